/** Request bodies of the discover and ingest endpoints (contracts 1 and 2), from the form. */
import type { Bbox, DiscoverRequest, IngestRequest } from "../api/contracts";

/** The discover request for a form: the map extent or a saved area, and optional filters. */
export function discoverRequest(form: { where: "extent" | string; extent?: Bbox; start?: string; end?: string; maxCloud?: number; collections?: string; limit?: number }): DiscoverRequest {
  const body: DiscoverRequest = {};
  if (form.where === "extent") {
    if (!form.extent) throw new Error("the map has no extent yet");
    const [w, s, e, n] = form.extent;
    body.bbox = [Math.max(-180, w), Math.max(-90, s), Math.min(180, e), Math.min(90, n)];
  } else body.aoi_id = form.where;
  if (form.start || form.end) body.datetime = `${form.start ? `${form.start}T00:00:00Z` : ".."}/${form.end ? `${form.end}T23:59:59Z` : ".."}`;
  if (form.maxCloud !== undefined && form.maxCloud < 100) body.max_cloud = form.maxCloud;
  const collections = (form.collections ?? "")
    .split(",")
    .map((c) => c.trim())
    .filter(Boolean);
  if (collections.length) body.collections = collections;
  if (form.limit) body.limit = Math.min(200, Math.max(1, Math.round(form.limit)));
  return body;
}

/** The ingest request for the chosen items, over the same area the search used. */
export function ingestRequest(items: { id: string; collection: string }[], area: Pick<DiscoverRequest, "bbox" | "aoi_id">): IngestRequest {
  const collections = [...new Set(items.map((i) => i.collection).filter(Boolean))];
  return {
    item_ids: items.map((i) => i.id),
    ...(collections.length ? { collections } : {}),
    ...(area.aoi_id ? { aoi_id: area.aoi_id } : { bbox: area.bbox! }),
  };
}

