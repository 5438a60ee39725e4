/**
 * What this server offers, read from its OpenAPI document: the UI asks before offering a
 * feature whose endpoint may not exist yet, and shows "not available on this server" instead
 * of failing. Paths are written relative to `/api/v1`, as templates (`/aois/{aoi_id}`).
 */

export type Method = "get" | "post" | "put" | "patch" | "delete";

export const API_PREFIX = "/api/v1";

export class Capabilities {
  /** `null` when the document could not be read: then every feature is tried. */
  private readonly routes: Set<string> | null;

  constructor(routes: Iterable<string> | null) {
    this.routes = routes === null ? null : new Set(routes);
  }

  static fromOpenApi(document: { paths?: Record<string, Record<string, unknown>> }): Capabilities {
    const routes: string[] = [];
    for (const [path, operations] of Object.entries(document.paths ?? {})) {
      if (!path.startsWith(API_PREFIX)) continue;
      for (const method of Object.keys(operations)) routes.push(`${method.toLowerCase()} ${path.slice(API_PREFIX.length)}`);
    }
    return new Capabilities(routes);
  }

  static unknown(): Capabilities {
    return new Capabilities(null);
  }

  get known(): boolean {
    return this.routes !== null;
  }

  /** Whether the server has `method path` (true when unknown). A path may use any parameter
   * names: `/imagery/{id}` matches `/imagery/{imagery_id}`. */
  has(method: Method, path: string): boolean {
    if (this.routes === null) return true;
    if (this.routes.has(`${method} ${path}`)) return true;
    const shape = normalise(path);
    for (const route of this.routes) {
      const [m, p] = route.split(" ", 2) as [string, string];
      if (m === method && (normalise(p) === shape || (path.endsWith("*") && normalise(p).startsWith(shape.slice(0, -1))))) return true;
    }
    return false;
  }
}

function normalise(path: string): string {
  return path.replace(/\{[^}]+\}/g, "{}");
}

/** Read the OpenAPI document; any failure gives `Capabilities.unknown()`. */
export async function loadCapabilities(baseUrl: string, fetchFn: typeof fetch = fetch): Promise<Capabilities> {
  try {
    const response = await fetchFn(`${baseUrl}/openapi.json`, { headers: { Accept: "application/json" } });
    if (!response.ok) return Capabilities.unknown();
    return Capabilities.fromOpenApi((await response.json()) as { paths?: Record<string, Record<string, unknown>> });
  } catch {
    return Capabilities.unknown();
  }
}
