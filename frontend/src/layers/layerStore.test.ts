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

describe("raster styles", () => {
  const base = { baseUrl: "/api/v1", kind: "imagery" as const, id: "s1", imagery: { id: "s1", bands: ["blue", "green", "red", "nir", "swir16", "swir22"], band_info: {} } };
  const start: MapLayer[] = [layer("x", { raster: { ...base, style: { kind: "combination", combination: "true-color" } }, tilejson: "old", title: "Scene · True colour" })];

  it("switches a scene's band combination, rebuilding its TileJSON URL", () => {
    const [next] = layersReducer(start, { type: "style", id: "x", style: { kind: "combination", combination: "swir" }, title: "Scene · SWIR" });
    expect(new URL(next!.tilejson!, "http://h").searchParams.getAll("bidx")).toEqual(["6", "4", "3"]);
    expect(next!.title).toBe("Scene · SWIR");
    expect(next!.raster!.style).toEqual({ kind: "combination", combination: "swir" });
  });

  it("keeps the layer when the scene lacks a band, and changes an index layer's colour map and legend", () => {
    const rgbOnly: MapLayer[] = [layer("y", { raster: { ...base, imagery: { ...base.imagery, bands: ["red", "green", "blue"] }, style: { kind: "combination", combination: "true-color" } }, tilejson: "old" })];
    expect(layersReducer(rgbOnly, { type: "style", id: "y", style: { kind: "combination", combination: "false-color" } })[0]!.tilejson).toBe("old");
    const index: MapLayer[] = [layer("r", { kind: "result", raster: { baseUrl: "/api/v1", kind: "results", id: "j", style: { kind: "index", index: "ndvi", colormap: "rdylgn" } }, tilejson: "old" })];
    const [next] = layersReducer(index, { type: "style", id: "r", style: { kind: "index", index: "ndvi", colormap: "viridis" }, legend: { label: "NDVI", ramp: "viridis", range: [-1, 1] } });
    expect(new URL(next!.tilejson!, "http://h").searchParams.get("colormap_name")).toBe("viridis");
    expect(next!.legend?.ramp).toBe("viridis");
  });
});
