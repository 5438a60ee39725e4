import { describe, expect, it } from "vitest";
import { drawingOrder, layersReducer, type MapLayer } from "./layerStore";

const layer = (id: string, extra: Partial<MapLayer> = {}): MapLayer => ({ id, title: id, kind: "imagery", visible: true, opacity: 1, ...extra });

describe("layersReducer", () => {
  const start = [layer("a"), layer("b"), layer("c")];

  it("adds new layers on top and replaces an existing one in place", () => {
    expect(layersReducer(start, { type: "add", layer: layer("d") }).map((l) => l.id)).toEqual(["d", "a", "b", "c"]);
    const replaced = layersReducer(start, { type: "add", layer: layer("b", { title: "B2" }) });
    expect(replaced.map((l) => l.title)).toEqual(["a", "B2", "c"]);
  });

  it("toggles, fades (clamped) and removes", () => {
    expect(layersReducer(start, { type: "toggle", id: "b" })[1]!.visible).toBe(false);
    expect(layersReducer(start, { type: "opacity", id: "a", opacity: 1.7 })[0]!.opacity).toBe(1);
    expect(layersReducer(start, { type: "opacity", id: "a", opacity: 0.25 })[0]!.opacity).toBe(0.25);
    expect(layersReducer(start, { type: "remove", id: "a" }).map((l) => l.id)).toEqual(["b", "c"]);
  });

  it("reorders within bounds and draws bottom first", () => {
    expect(layersReducer(start, { type: "move", id: "a", by: 1 }).map((l) => l.id)).toEqual(["b", "a", "c"]);
    expect(layersReducer(start, { type: "move", id: "a", by: -1 }).map((l) => l.id)).toEqual(["a", "b", "c"]);
    expect(drawingOrder(start).map((l) => l.id)).toEqual(["c", "b", "a"]);
  });
});
