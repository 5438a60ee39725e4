/**
 * Basemaps: the offline style (the default: the map works with no internet) and an online
 * style given by URL. The URL comes from the user (kept in localStorage) or from the build
 * (`VITE_TERRASCAN_STYLE_URL`); nothing online is contacted unless one is chosen.
 */

export type BasemapChoice = { kind: "offline" } | { kind: "online"; url: string };

const KEY = "terrascan.basemap";

export const BUILD_STYLE_URL: string = (import.meta.env.VITE_TERRASCAN_STYLE_URL as string | undefined) ?? "";

export function isStyleUrl(text: string): boolean {
  try {
    const url = new URL(text, "http://relative.invalid/");
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

export function loadBasemap(storage: Pick<Storage, "getItem"> | undefined = globalThis.localStorage): BasemapChoice {
  try {
    const value = JSON.parse(storage?.getItem(KEY) ?? "null") as BasemapChoice | null;
    if (value?.kind === "online" && isStyleUrl(value.url)) return value;
  } catch {
    // fall through to the default
  }
  return { kind: "offline" };
}

export function saveBasemap(choice: BasemapChoice, storage: Pick<Storage, "setItem"> | undefined = globalThis.localStorage): void {
  storage?.setItem(KEY, JSON.stringify(choice));
}
