import { describe, expect, it } from "vitest";
import type { MapLayer } from "../layers/layerStore";
import { applyTimeline, dayIndexAt, inWindow, nearerHandle, timelineDays } from "./timeline";

const layer = (id: string, time: string | null, extra: Partial<MapLayer> = {}): MapLayer => ({ id, title: id, kind: "imagery", visible: true, opacity: 1, time, ...extra });
const footprints: MapLayer = {
  id: "fp",
  title: "footprints",
  kind: "footprints",
  visible: true,
  opacity: 1,
  features: {
    type: "FeatureCollection",
    features: [
      { type: "Feature", id: "a", geometry: null as never, properties: { acquired_at: "2024-05-10T10:30:00Z" } },
      { type: "Feature", id: "b", geometry: null as never, properties: { acquired_at: "2024-08-18T10:30:00Z" } },
      { type: "Feature", id: "c", geometry: null as never, properties: { acquired_at: null } },
    ],
  },
};

describe("timeline", () => {
  const layers = [layer("may", "2024-05-10T10:30:00Z"), layer("aug", "2024-08-18T10:30:00Z"), layer("aoi", null, { kind: "aois" }), footprints];

  it("collects the sorted, distinct days of layers and footprints", () => {
    expect(timelineDays(layers)).toEqual(["2024-05-10", "2024-08-18"]);
    expect(timelineDays([layer("x", "2023-01-02"), layer("y", "2021-12-31T23:00:00Z"), layer("z", "garbage")])).toEqual(["2021-12-31", "2023-01-02"]);
  });

  it("treats the window as inclusive days; undated things always pass", () => {
    const window = { from: "2024-05-10", to: "2024-06-30" };
    expect(inWindow("2024-05-10T23:59:59Z", window)).toBe(true);
    expect(inWindow("2024-06-30T00:00:00Z", window)).toBe(true);
    expect(inWindow("2024-07-01", window)).toBe(false);
    expect(inWindow(null, window)).toBe(true);
    expect(inWindow("2020-01-01", null)).toBe(true);
  });

  it("hides dated layers and drops dated footprints outside the window, leaving the panel's flags", () => {
    const shown = applyTimeline(layers, { from: "2024-08-01", to: "2024-08-31" });
    expect(shown.map((l) => [l.id, l.visible])).toEqual([
      ["may", false],
      ["aug", true],
      ["aoi", true],
      ["fp", true],
    ]);
    expect(shown[3]!.features!.features.map((f) => f.id)).toEqual(["b", "c"]);
    expect(layers[0]!.visible).toBe(true);
    expect(applyTimeline(layers, null)).toEqual(layers);
  });

  it("maps a pointer on the slider to the nearest day, clamped to the ends", () => {
    // Five days over 200 px starting at x = 10: a day every 50 px.
    expect([10, 34, 36, 60, 210].map((x) => dayIndexAt(x, 10, 200, 5))).toEqual([0, 0, 1, 1, 4]);
    expect(dayIndexAt(-50, 10, 200, 5)).toBe(0);
    expect(dayIndexAt(999, 10, 200, 5)).toBe(4);
    expect(dayIndexAt(100, 10, 200, 1)).toBe(0);
  });

  it("gives a press to the nearer handle, or to the one on its side when both are as near", () => {
    expect(nearerHandle(1, 0, 4)).toBe("from");
    expect(nearerHandle(3, 0, 4)).toBe("to");
    expect(nearerHandle(2, 0, 4)).toBe("to");
    expect(nearerHandle(0, 0, 4)).toBe("from");
    // Both handles on one day: a press left of it moves the start, right of it the end.
    expect(nearerHandle(0, 2, 2)).toBe("from");
    expect(nearerHandle(4, 2, 2)).toBe("to");
    expect(nearerHandle(0, 0, 0)).toBe("from");
    expect(nearerHandle(3, 4, 4)).toBe("from");
  });
});
