import { describe, expect, it } from "vitest";
import type { MapLayer } from "../layers/layerStore";
import { isApiRequest } from "./auth";
import { clampPosition, compareLayers, NO_COMPARE } from "./compare";

const layer = (id: string, visible = true): MapLayer => ({ id, title: id, kind: "imagery", visible, opacity: 1, tilejson: `/t/${id}` });

describe("compareLayers", () => {
  const layers = [layer("after"), layer("before", false), layer("aoi")];

  it("draws everything on one map when comparison is off or has no right layer", () => {
    expect(compareLayers(layers, NO_COMPARE)).toEqual({ main: layers, second: [] });
    expect(compareLayers(layers, { ...NO_COMPARE, mode: "swipe" }).second).toEqual([]);
  });

  it("moves the right layer to the second map and shows the left one on the main map", () => {
    const { main, second } = compareLayers(layers, { mode: "swipe", left: "before", right: "after", position: 0.5 });
    expect(main.map((l) => [l.id, l.visible])).toEqual([
      ["before", true],
      ["aoi", true],
    ]);
    expect(second.map((l) => [l.id, l.visible])).toEqual([["after", true]]);
  });

  it("keeps the divider on the map", () => {
    expect(clampPosition(-1)).toBe(0.02);
    expect(clampPosition(0.4)).toBe(0.4);
    expect(clampPosition(7)).toBe(0.98);
  });
});

describe("isApiRequest (which map requests get the token)", () => {
  const origin = "https://maps.example.org";
  it("accepts same-origin API URLs, absolute or relative", () => {
    expect(isApiRequest("https://maps.example.org/api/v1/imagery/x/WebMercatorQuad/tilejson.json", `${origin}/api/v1`, origin)).toBe(true);
    expect(isApiRequest("/api/v1/imagery/x/tiles/WebMercatorQuad/1/2/3.png", `${origin}/api/v1`, origin)).toBe(true);
    expect(isApiRequest("https://maps.example.org/ts/api/v1/jobs", `${origin}/ts/api/v1`, origin)).toBe(true);
  });
  it("refuses other hosts and non-API paths", () => {
    expect(isApiRequest("https://tiles.example.com/api/v1/style.json", `${origin}/api/v1`, origin)).toBe(false);
    expect(isApiRequest("https://maps.example.org/assets/countries.json", `${origin}/api/v1`, origin)).toBe(false);
    expect(isApiRequest("http://maps.example.org/api/v1/x", `${origin}/api/v1`, origin)).toBe(false);
  });
});
