import { describe, expect, it } from "vitest";
import type { MapLayer } from "../layers/layerStore";
import { applyTimeline, inWindow, timelineDays } from "./timeline";

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
});
