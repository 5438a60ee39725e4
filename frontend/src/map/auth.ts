/** Which map requests carry the session's token: same-origin requests to the API (TileJSON
 * documents and the tiles they list), never a basemap or anything on another host. */
export function isApiRequest(url: string, apiBase: string, pageOrigin: string): boolean {
  let target: URL;
  let base: URL;
  try {
    target = new URL(url, pageOrigin);
    base = new URL(apiBase, pageOrigin);
  } catch {
    return false;
  }
  if (target.origin !== base.origin) return false;
  const root = base.pathname.replace(/\/api\/v\d+\/?$/, "/");
  return target.pathname.startsWith(`${root}api/`);
}
