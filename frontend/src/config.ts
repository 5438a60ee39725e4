/**
 * Where the API is: `api/v1` next to the page (so the app also works behind a path prefix),
 * unless the build says otherwise with `VITE_TERRASCAN_API_BASE`.
 */
export function apiBase(): string {
  const configured = import.meta.env.VITE_TERRASCAN_API_BASE as string | undefined;
  const base = new URL(configured ?? "api/v1", document.baseURI).href;
  return base.replace(/\/$/, "");
}
