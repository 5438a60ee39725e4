import { describe, expect, it } from "vitest";
import { dispositionFilename } from "../api/client";
import { discoverRequest, ingestRequest } from "./discover";

describe("discover and ingest requests", () => {
  it("sends the map extent (clamped) or an area, with RFC 3339 dates and filters", () => {
    expect(discoverRequest({ where: "extent", extent: [-200, -10, 20, 95], start: "2024-05-01", end: "2024-08-31", maxCloud: 30, collections: " sentinel-2-l2a, ,landsat ", limit: 500 })).toEqual({
      bbox: [-180, -10, 20, 90],
      datetime: "2024-05-01T00:00:00Z/2024-08-31T23:59:59Z",
      max_cloud: 30,
      collections: ["sentinel-2-l2a", "landsat"],
      limit: 200,
    });
    expect(discoverRequest({ where: "aoi-1", start: "2024-05-01", maxCloud: 100 })).toEqual({ aoi_id: "aoi-1", datetime: "2024-05-01T00:00:00Z/.." });
    expect(() => discoverRequest({ where: "extent" })).toThrow();
  });

  it("ingests the chosen items over the searched area, exactly one area field", () => {
    const items = [
      { id: "S2A_1", collection: "sentinel-2-l2a" },
      { id: "S2B_2", collection: "sentinel-2-l2a" },
    ];
    expect(ingestRequest(items, { bbox: [1, 2, 3, 4] })).toEqual({ item_ids: ["S2A_1", "S2B_2"], collections: ["sentinel-2-l2a"], bbox: [1, 2, 3, 4] });
    expect(ingestRequest(items.slice(0, 1), { aoi_id: "a", bbox: [1, 2, 3, 4] })).toEqual({ item_ids: ["S2A_1"], collections: ["sentinel-2-l2a"], aoi_id: "a" });
  });
});

describe("dispositionFilename", () => {
  it("reads RFC 6266 names, the extended form first, and never a path", () => {
    expect(dispositionFilename(`attachment; filename="change-1.geojson"`, "x")).toBe("change-1.geojson");
    expect(dispositionFilename(`attachment; filename="a.csv"; filename*=UTF-8''zonal%20%C3%A9t%C3%A9.csv`, "x")).toBe("zonal été.csv");
    expect(dispositionFilename("attachment; filename=../../etc/passwd", "x")).toBe(".._.._etc_passwd");
    expect(dispositionFilename(null, "fallback.tif")).toBe("fallback.tif");
  });
});
