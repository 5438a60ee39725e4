/**
 * Hand-written types for endpoints being built at the same time as this app (the shared HTTP
 * contracts 1, 2, 4, 5, 6 and 7). Each is written to the agreed shape; once an endpoint is in
 * the server's OpenAPI document, its type here should be replaced by the generated one from
 * `schema.d.ts`. The panels ask `Capabilities` before offering them.
 */
import type { Feature, FeatureCollection, Geometry, MultiPolygon, Polygon } from "geojson";
import type { IndexName } from "./types";

export type Bbox = [number, number, number, number];

// ---------------------------------------------------------------- 1. POST /imagery/discover

export interface DiscoverRequest {
  bbox?: Bbox;
  aoi_id?: string;
  /** RFC 3339 interval `A/B` (`..` for an open end). */
  datetime?: string;
  collections?: string[];
  max_cloud?: number;
  limit?: number;
}

export interface DiscoveredProperties {
  collection: string;
  platform: string | null;
  datetime: string | null;
  cloud_cover: number | null;
  bands: string[];
  thumbnail: string | null;
}

export type DiscoveredItem = Feature<Geometry | null, DiscoveredProperties> & { id: string; bbox?: number[] };
export interface DiscoverResponse extends FeatureCollection<Geometry | null, DiscoveredProperties> {
  features: DiscoveredItem[];
}

// ---------------------------------------------------------------- 2. POST /imagery/ingest

export interface IngestRequest {
  item_ids: string[];
  collections?: string[];
  bbox?: Bbox;
  aoi?: Polygon | MultiPolygon;
  aoi_id?: string;
  bands?: string[];
}

// ---------------------------------------------------------------- 4. POST /analysis/zonal-stats

export interface ZonalStatsRequest {
  job_id?: string;
  imagery_id?: string;
  band?: string;
  aoi_ids?: string[];
  features?: FeatureCollection<Polygon | MultiPolygon>;
  percentiles?: number[];
}

/** One zone's statistics: `count`, `mean`, `median`, `std`, `min`, `max` and `pNN` keys. */
export interface ZoneStats {
  zone: string;
  name: string | null;
  count: number;
  [statistic: string]: number | string | null;
}

export interface ZonalSummary {
  zones: ZoneStats[];
}

// ---------------------------------------------------------------- 5. POST /analysis/timeseries

export interface TimeSeriesRequest {
  index_name: IndexName;
  aoi_id?: string;
  point?: [number, number];
  datetime?: string;
}

export interface TimeSeriesEntry {
  imagery_id: string;
  acquired: string;
  mean: number | null;
  median: number | null;
  std: number | null;
  valid_fraction: number | null;
  count: number;
}

export interface TimeSeriesSummary {
  index_name: string;
  series: TimeSeriesEntry[];
}

// ---------------------------------------------------------------- 6. WebSocket /jobs/{id}/ws

export interface WsAuthFrame {
  type: "auth";
  access_token: string;
  organization_id?: string;
}

// ---------------------------------------------------------------- 7. share links

export interface ShareCreate {
  expires_in_hours?: number;
}

export interface SharePublic {
  id: string;
  token: string;
  /** The public view's path: `/api/v1/shared/{token}`. */
  url: string;
  expires_at: string;
  job_id?: string;
}

/** A share link as `GET /shares` lists it: the server keeps only a hash of the token. */
export interface ShareListed {
  id: string;
  job_id: string;
  created_by: string | null;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  state: string;
}
