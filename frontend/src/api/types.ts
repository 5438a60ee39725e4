/**
 * The API's types. Those the server already publishes come from `schema.d.ts`, generated from
 * `/api/v1/openapi.json` by `npm run api:generate`, so they never drift from the server. The
 * rest are provisional: written from ARCHITECTURE.md for endpoints still being built, and to be
 * replaced by generated ones as those endpoints land (each is marked "provisional").
 */
import type { Feature, FeatureCollection, Geometry, Polygon } from "geojson";
import type { components } from "./schema";

type Schemas = components["schemas"];

export type TokenPair = Schemas["TokenPair"];
export type UserCreate = Schemas["UserCreate"];
export type LoginRequest = Schemas["LoginRequest"];
export type UserPublic = Schemas["UserPublic"];
export type UserMe = Schemas["UserMe"];
export type MembershipPublic = Schemas["MembershipPublic"];
export type Role = MembershipPublic["role"];
export type OrgPublic = Schemas["OrgPublic"];
export type OrgCreate = Schemas["OrgCreate"];
export type AOIPublic = Schemas["AOIPublic"];
export type AOICreate = Schemas["AOICreate"];
export type AOIUpdate = Schemas["AOIUpdate"];
export type ImageryPublic = Schemas["ImageryPublic"];

/** GET /imagery/search answers GeoJSON (untyped in the OpenAPI document): one feature per
 * imagery record, its properties the record without its geometry. */
export interface ImageryFeatureCollection extends FeatureCollection<Geometry | null, Omit<ImageryPublic, "geometry">> {
  numberReturned: number;
  next_cursor: string | null;
  links: { rel: string; type?: string; href: string }[];
}
export type ImageryFeature = Feature<Geometry | null, Omit<ImageryPublic, "geometry">>;

export interface ImagerySearchParams {
  bbox?: readonly [number, number, number, number];
  aoi_id?: string;
  intersects?: Polygon;
  /** `A/B` with `..` for an open end, dates or RFC 3339 times. */
  datetime?: string;
  max_cloud?: number;
  collection?: string;
  status?: "raw" | "ready" | "failed";
  limit?: number;
  cursor?: string;
}

// ---------------------------------------------------------------- analyses and jobs

export type IndexName = "ndvi" | "ndwi" | "ndbi" | "evi" | "nbr";
export type ChangeMethod = "diff" | "cva" | "postclass";

/** POST /analysis/spectral-index (`aoi_id`: contract 3, optional). */
export type SpectralIndexRequest = Schemas["SpectralIndexSpec"] & { aoi_id?: string };
/** POST /analysis/change-detection (`aoi_id`: contract 3, optional). */
export type ChangeDetectionRequest = Omit<Schemas["ChangeDetectionSpec"], "coregister"> & { coregister?: boolean; aoi_id?: string };

export type JobPublic = Schemas["JobPublic"];
export type JobStatus = JobPublic["status"];
export type JobPage = Schemas["JobPage"];

export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(["completed", "failed", "cancelled"]);
