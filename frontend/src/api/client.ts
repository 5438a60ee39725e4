/**
 * The typed HTTP client for `/api/v1`. One `request` does what every call needs: JSON in and
 * out, the access token (refreshed shortly before it expires, and once more if the server still
 * answers 401, then the request is retried), the `X-Organization-ID` header for the
 * organisation the user acts in, and errors as `ApiError`. The endpoint methods below are thin
 * and typed from the generated schema (see types.ts).
 */
import { ApiError, errorFromResponse, networkError } from "./errors";
import type { Session } from "./session";
import type {
  AOICreate,
  AOIPublic,
  AOIUpdate,
  ChangeDetectionRequest,
  ImageryFeatureCollection,
  ImageryPublic,
  ImagerySearchParams,
  JobPage,
  JobPublic,
  LoginRequest,
  OrgCreate,
  OrgPublic,
  SpectralIndexRequest,
  TokenPair,
  UserCreate,
  UserMe,
  UserPublic,
} from "./types";
import type {
  DiscoverRequest,
  DiscoverResponse,
  IngestRequest,
  ShareCreate,
  ShareListed,
  SharePublic,
  TimeSeriesRequest,
  ZonalStatsRequest,
} from "./contracts";
import type { FeatureCollection } from "geojson";

/** A file the API sent: its bytes and the name from `Content-Disposition` (RFC 6266). */
export interface DownloadedFile {
  blob: Blob;
  filename: string;
}

/** The file name of a `Content-Disposition` header (`filename*=UTF-8''…` preferred). */
export function dispositionFilename(header: string | null, fallback: string): string {
  if (!header) return fallback;
  const extended = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header);
  if (extended?.[2]) {
    try {
      return decodeURIComponent(extended[2].trim().replace(/^"|"$/g, ""));
    } catch {
      // fall through to the plain parameter
    }
  }
  const plain = /filename\s*=\s*("([^"]*)"|[^;]+)/i.exec(header);
  const name = (plain?.[2] ?? plain?.[1])?.trim();
  return name ? name.replace(/[\\/]/g, "_") : fallback;
}

export const ORG_HEADER = "X-Organization-ID";

type Query = Record<string, string | number | boolean | readonly (string | number)[] | undefined | null>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  signal?: AbortSignal;
  /** Send the access token (default true). */
  auth?: boolean;
}

export interface ClientOptions {
  /** The API root, e.g. `https://host/api/v1` (no trailing slash). */
  baseUrl: string;
  session: Session;
  fetch?: typeof fetch;
  /** The organisation the user acts in (null: their personal one). */
  organization?: () => string | null;
}

export function queryString(query: Query | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) value.forEach((v) => params.append(key, String(v)));
    else params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

export class ApiClient {
  readonly baseUrl: string;
  readonly session: Session;
  private readonly fetchFn: typeof fetch;
  private readonly organization: () => string | null;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/$/, "");
    this.session = options.session;
    this.fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
    this.organization = options.organization ?? (() => null);
  }

  url(path: string, query?: Query): string {
    return `${this.baseUrl}${path}${queryString(query)}`;
  }

  /** Headers for a request to the API: the token and organisation, when there are. */
  authHeaders(token = this.session.accessToken): Record<string, string> {
    const headers: Record<string, string> = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    const org = this.organization();
    if (org) headers[ORG_HEADER] = org;
    return headers;
  }

  private async send(method: string, path: string, options: RequestOptions, token: string | null): Promise<Response> {
    const auth = options.auth ?? true;
    const headers: Record<string, string> = { Accept: "application/json, application/problem+json", ...(auth ? this.authHeaders(token) : {}) };
    let body: BodyInit | undefined;
    if (options.body instanceof FormData) body = options.body;
    else if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    try {
      return await this.fetchFn(this.url(path, options.query), { method, headers, body, signal: options.signal ?? null });
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") throw error;
      throw networkError(error);
    }
  }

  /** Send a request and return the raw response (for images and files); errors are thrown. */
  async fetchRaw(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const auth = options.auth ?? true;
    const token = auth ? await this.session.freshAccessToken() : null;
    let response = await this.send(method, path, options, token);
    if (response.status === 401 && auth && token) {
      const renewed = await this.session.refresh(token);
      if (renewed) response = await this.send(method, path, options, renewed);
    }
    if (!response.ok) {
      const error = await errorFromResponse(response);
      if (error.kind === "unauthorized" && auth && token) this.session.expire();
      throw error;
    }
    return response;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.fetchRaw(method, path, options);
    if (response.status === 204) return undefined as T;
    const type = response.headers.get("content-type") ?? "";
    if (!type.includes("json")) throw new ApiError("server", response.status, `expected JSON from ${path}, got ${type || "nothing"}`);
    return (await response.json()) as T;
  }

  // ------------------------------------------------------------------ accounts

  register(body: UserCreate): Promise<UserPublic> {
    return this.request("POST", "/auth/register", { body, auth: false });
  }

  async login(body: LoginRequest): Promise<TokenPair> {
    const pair = await this.request<TokenPair>("POST", "/auth/login", { body, auth: false });
    this.session.signIn(pair);
    return pair;
  }

  /** Refresh-token exchange, used by the Session (which owns the single-flight logic). */
  refreshTokens(refreshToken: string): Promise<TokenPair> {
    return this.request("POST", "/auth/refresh", { body: { refresh_token: refreshToken }, auth: false });
  }

  /** End the sign-in session on the server too; the local session ends whatever happens. */
  async logout(): Promise<void> {
    const refreshToken = this.session.refreshToken;
    this.session.signOut();
    if (!refreshToken) return;
    try {
      await this.request("POST", "/auth/logout", { body: { refresh_token: refreshToken }, auth: false });
    } catch {
      // The tokens are gone locally; the server's copy expires on its own.
    }
  }

  /** The OAuth providers this server is configured for (may be none). */
  oauthProviders(): Promise<string[]> {
    return this.request("GET", "/auth/oauth/providers", { auth: false });
  }

  /** Where the browser goes to sign in with an OAuth provider. */
  oauthLoginUrl(provider: string): string {
    return this.url(`/auth/oauth/${encodeURIComponent(provider)}/login`);
  }

  me(signal?: AbortSignal): Promise<UserMe> {
    return this.request("GET", "/users/me", { signal });
  }

  orgs(): Promise<OrgPublic[]> {
    return this.request("GET", "/orgs");
  }

  createOrg(body: OrgCreate): Promise<OrgPublic> {
    return this.request("POST", "/orgs", { body });
  }

  // ------------------------------------------------------------------ areas of interest

  listAois(query: { bbox?: string; limit?: number; offset?: number } = {}): Promise<AOIPublic[]> {
    return this.request("GET", "/aois", { query });
  }

  createAoi(body: AOICreate): Promise<AOIPublic> {
    return this.request("POST", "/aois", { body });
  }

  updateAoi(id: string, body: AOIUpdate): Promise<AOIPublic> {
    return this.request("PATCH", `/aois/${encodeURIComponent(id)}`, { body });
  }

  deleteAoi(id: string): Promise<void> {
    return this.request("DELETE", `/aois/${encodeURIComponent(id)}`);
  }

  // ------------------------------------------------------------------ imagery

  searchImagery(params: ImagerySearchParams, signal?: AbortSignal): Promise<ImageryFeatureCollection> {
    const { bbox, intersects, ...rest } = params;
    const query: Query = { ...rest };
    if (bbox) query.bbox = bbox.map((v) => v.toFixed(6)).join(",");
    if (intersects) query.intersects = JSON.stringify(intersects);
    return this.request("GET", "/imagery/search", { query, signal });
  }

  imagery(id: string): Promise<ImageryPublic> {
    return this.request("GET", `/imagery/${encodeURIComponent(id)}`);
  }

  /** Upload a GeoTIFF (multipart: `file`, and optionally `bands` like `red=3,nir=4`, `name`,
   * `acquired`); the answer is the new, ready imagery record. */
  uploadImagery(form: FormData): Promise<ImageryPublic> {
    return this.request("POST", "/imagery/upload", { body: form });
  }

  async thumbnail(id: string, signal?: AbortSignal): Promise<Blob> {
    const response = await this.fetchRaw("GET", `/imagery/${encodeURIComponent(id)}/thumbnail`, { signal });
    return response.blob();
  }

  // ------------------------------------------------------------------ external catalogue (contracts 1, 2)

  discover(body: DiscoverRequest, signal?: AbortSignal): Promise<DiscoverResponse> {
    return this.request("POST", "/imagery/discover", { body, signal });
  }

  ingest(body: IngestRequest): Promise<JobPublic> {
    return this.request("POST", "/imagery/ingest", { body });
  }

  // ------------------------------------------------------------------ analyses

  startSpectralIndex(body: SpectralIndexRequest): Promise<JobPublic> {
    return this.request("POST", "/analysis/spectral-index", { body });
  }

  startChangeDetection(body: ChangeDetectionRequest): Promise<JobPublic> {
    return this.request("POST", "/analysis/change-detection", { body });
  }

  startZonalStats(body: ZonalStatsRequest): Promise<JobPublic> {
    return this.request("POST", "/analysis/zonal-stats", { body });
  }

  startTimeSeries(body: TimeSeriesRequest): Promise<JobPublic> {
    return this.request("POST", "/analysis/timeseries", { body });
  }

  result(id: string, signal?: AbortSignal): Promise<JobPublic> {
    return this.request("GET", `/analysis/results/${encodeURIComponent(id)}`, { signal });
  }

  resultFeatures(id: string, signal?: AbortSignal): Promise<FeatureCollection> {
    return this.request("GET", `/analysis/results/${encodeURIComponent(id)}/features`, { signal });
  }

  /** Download a file from the API (with the token), named as the server names it. */
  async download(path: string, query: RequestOptions["query"], fallback: string): Promise<DownloadedFile> {
    const response = await this.fetchRaw("GET", path, { query });
    return { blob: await response.blob(), filename: dispositionFilename(response.headers.get("content-disposition"), fallback) };
  }

  exportResult(id: string, format: "geotiff" | "png" | "geojson" | "shapefile" | "gpkg" | "csv"): Promise<DownloadedFile> {
    return this.download(`/analysis/results/${encodeURIComponent(id)}/export`, { format }, `${id}.${format}`);
  }

  zonesCsv(id: string): Promise<DownloadedFile> {
    return this.download(`/analysis/results/${encodeURIComponent(id)}/zones`, { format: "csv" }, `zonal-stats-${id}.csv`);
  }

  // ------------------------------------------------------------------ share links (contract 7)

  createShare(resultId: string, body: ShareCreate = {}): Promise<SharePublic> {
    return this.request("POST", `/analysis/results/${encodeURIComponent(resultId)}/shares`, { body });
  }

  shares(): Promise<ShareListed[]> {
    return this.request("GET", "/shares");
  }

  deleteShare(id: string): Promise<void> {
    return this.request("DELETE", `/shares/${encodeURIComponent(id)}`);
  }

  // ------------------------------------------------------------------ jobs

  job(id: string, signal?: AbortSignal): Promise<JobPublic> {
    return this.request("GET", `/jobs/${encodeURIComponent(id)}`, { signal });
  }

  jobs(query: { status?: string[]; job_type?: string; limit?: number } = {}, signal?: AbortSignal): Promise<JobPage> {
    return this.request("GET", "/jobs", { query, signal });
  }

  cancelJob(id: string): Promise<JobPublic> {
    return this.request("POST", `/jobs/${encodeURIComponent(id)}/cancel`);
  }
}
