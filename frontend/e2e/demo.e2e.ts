/**
 * The demo journeys, against `terrascan serve --demo` (a demo user with two generated
 * Sentinel-2-like scenes, May and August 2024, over one valley): register, find the demo scenes,
 * show them in false colour, draw and save an area, run NDVI and change detection, see the
 * result layers, open a changed region's popup, export GeoJSON, compare two dates (swipe and
 * side by side), filter by date. The last block needs endpoints still being built (discover,
 * time series, zonal statistics, share links). Screenshots: e2e/screenshots/demo-*.png.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { launch, pixelStats, screenshotPath } from "./browser";

const baseURL = inject("baseURL");
const DEMO = { email: inject("demoEmail"), password: inject("demoPassword") };
const NEW_USER = { name: "Grace", email: `grace-${Date.now()}@example.org`, password: "correct horse battery staple" };

let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
const ids: { may?: string; aug?: string; ndvi?: string; change?: string } = {};

const shot = (name: string) => screenshotPath(`demo-${name}.png`);

async function mapIdle(p: Page, ms = 600): Promise<void> {
  await p.waitForFunction(
    () => {
      const map = (window as unknown as { __terrascan?: { map: { loaded(): boolean; areTilesLoaded(): boolean } } }).__terrascan?.map;
      return Boolean(map && map.loaded() && map.areTilesLoaded());
    },
    undefined,
    { timeout: 30_000 },
  );
  await p.waitForTimeout(ms);
}

type View = { west: number; south: number; east: number; north: number; zoom: number; moving: boolean };

/** The map's current view (its bounds and zoom), and whether it is still moving. */
async function mapView(p: Page): Promise<View> {
  return p.evaluate(() => {
    type M = { getBounds(): { getWest(): number; getSouth(): number; getEast(): number; getNorth(): number }; getZoom(): number; isMoving(): boolean };
    const map = (window as unknown as { __terrascan: { map: M } }).__terrascan.map;
    const b = map.getBounds();
    return { west: b.getWest(), south: b.getSouth(), east: b.getEast(), north: b.getNorth(), zoom: map.getZoom(), moving: map.isMoving() };
  });
}

async function openTab(p: Page, tab: string): Promise<void> {
  await p.click(`[data-tab="${tab}"]`);
}

async function mapPng(p: Page, name: string): Promise<Buffer> {
  return p.locator('[data-testid="map"]').screenshot({ path: shot(name) });
}

async function signIn(p: Page, email: string, password: string): Promise<void> {
  await p.getByRole("button", { name: "Sign in", exact: true }).first().click();
  const dialog = p.getByTestId("auth-dialog");
  await dialog.getByLabel("Email").fill(email);
  await dialog.getByLabel("Password").fill(password);
  await dialog.getByRole("button", { name: "Sign in" }).click();
  await p.getByTestId("user-email").waitFor();
}

async function api<T>(p: Page, path: string): Promise<{ status: number; body: T }> {
  return p.evaluate(async (path) => {
    const { accessToken } = JSON.parse(localStorage.getItem("terrascan.session")!);
    const response = await fetch(`api/v1${path}`, { headers: { Authorization: `Bearer ${accessToken}` } });
    return { status: response.status, body: await response.json().catch(() => null) };
  }, path) as Promise<{ status: number; body: T }>;
}

beforeAll(async () => {
  browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, acceptDownloads: true });
  page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(baseURL);
  await page.waitForSelector('[data-testid="map"][data-ready="true"]', { timeout: 30_000 });
});

afterAll(async () => {
  await browser?.close();
});

describe("the demo, end to end", () => {
  it("registers a new account, whose own catalog is empty, then signs in as the demo user", async () => {
    await page.getByRole("button", { name: "Register" }).click();
    const dialog = page.getByTestId("auth-dialog");
    await dialog.getByLabel("Name").fill(NEW_USER.name);
    await dialog.getByLabel("Email").fill(NEW_USER.email);
    await dialog.getByLabel("Password").fill(NEW_USER.password);
    await dialog.getByRole("button", { name: "Create account" }).click();
    await expect.poll(() => page.getByTestId("user-email").textContent()).toBe(NEW_USER.name);
    await openTab(page, "search");
    const panel = page.locator('[aria-label="Imagery search"]');
    await panel.getByLabel("Where").selectOption("anywhere");
    const before = await mapView(page);
    await panel.getByRole("button", { name: "Search", exact: true }).click();
    await expect.poll(() => panel.locator("[data-state]").first().getAttribute("data-state")).toBe("empty");
    // Nothing found: the map stays where it was.
    await page.waitForTimeout(300);
    expect(await mapView(page)).toEqual(before);
    await page.getByRole("button", { name: "Sign out" }).click();
    await signIn(page, DEMO.email, DEMO.password);
  });

  it("finds the two demo scenes, listed with thumbnails and footprints", async () => {
    await openTab(page, "search");
    const panel = page.locator('[aria-label="Imagery search"]');
    await panel.getByLabel("Where").selectOption("anywhere");
    await panel.getByRole("button", { name: "Search", exact: true }).click();
    await expect.poll(() => panel.getByTestId("search-result").count(), { timeout: 15_000 }).toBe(2);
    const texts = await panel.getByTestId("search-result").allTextContents();
    expect(texts.some((t) => t.includes("Demo valley 2024-05-10"))).toBe(true);
    expect(texts.some((t) => t.includes("Demo valley 2024-08-18"))).toBe(true);
    const search = await api<{ features: { id: string; geometry: { coordinates: number[][][] }; properties: { name: string } }[] }>(page, "/imagery/search");
    ids.may = search.body.features.find((f) => f.properties.name.endsWith("05-10"))!.id;
    ids.aug = search.body.features.find((f) => f.properties.name.endsWith("08-18"))!.id;
    // The map has moved from the whole world to the scenes: its view holds the union of their
    // footprints (from the API, not from the app), and the scenes fill much of it.
    const corners = search.body.features.flatMap((f) => f.geometry.coordinates[0]!);
    const [west, east] = [Math.min(...corners.map((c) => c[0]!)), Math.max(...corners.map((c) => c[0]!))];
    const [south, north] = [Math.min(...corners.map((c) => c[1]!)), Math.max(...corners.map((c) => c[1]!))];
    await expect.poll(async () => ((v) => !v.moving && v.zoom > 5)(await mapView(page)), { timeout: 10_000 }).toBe(true);
    const view = await mapView(page);
    console.log(`after the search: view ${[view.west, view.south, view.east, view.north].map((v) => v.toFixed(4)).join(", ")} at z${view.zoom.toFixed(2)}, scenes ${[west, south, east, north].map((v) => v.toFixed(4)).join(", ")}`);
    expect(view.west).toBeLessThanOrEqual(west);
    expect(view.south).toBeLessThanOrEqual(south);
    expect(view.east).toBeGreaterThanOrEqual(east);
    expect(view.north).toBeGreaterThanOrEqual(north);
    expect(Math.max((east - west) / (view.east - view.west), (north - south) / (view.north - view.south))).toBeGreaterThan(0.5);
    await mapIdle(page);
    await page.screenshot({ path: shot("01-scenes-found") });
  });

  it("shows a scene in false colour: the map canvas has imagery where the scene is", async () => {
    const panel = page.locator('[aria-label="Imagery search"]');
    const may = panel.getByTestId("search-result").filter({ hasText: "Demo valley 2024-05-10" });
    await may.getByRole("button", { name: "False colour" }).click();
    await mapIdle(page, 1000);
    const stats = await pixelStats(page, await mapPng(page, "02-false-colour"), {});
    console.log(`false colour map: ${(stats.notBasemap * 100).toFixed(1)} % not basemap, luma std ${stats.lumaStd.toFixed(1)}, red ${(stats.red * 100).toFixed(1)} %, ${stats.distinct} colours`);
    // The scene fills most of the view (fitted to its bounds), textured, vegetation red.
    expect(stats.notBasemap).toBeGreaterThan(0.4);
    expect(stats.lumaStd).toBeGreaterThan(15);
    expect(stats.red).toBeGreaterThan(0.2);
    expect(stats.distinct).toBeGreaterThan(100);
    await openTab(page, "layers");
    await expect.poll(() => page.getByTestId("layer-list").textContent()).toMatch(/Demo valley 2024-05-10 · False colour/);
    // The same layer in SWIR, then back: the band combination is a property of the layer.
    const select = page.getByLabel("Band combination of Demo valley 2024-05-10 · False colour");
    await select.selectOption("swir");
    await mapIdle(page);
    const swir = await pixelStats(page, await mapPng(page, "03-swir"), {});
    expect(swir.notBasemap).toBeGreaterThan(0.4);
    await page.getByLabel("Band combination of Demo valley 2024-05-10 · SWIR").selectOption("false-color");
    await mapIdle(page);
  });

  it("draws a rectangle over the valley and saves it as an area", async () => {
    await openTab(page, "areas");
    await page.click('[data-tool="rectangle"]');
    const box = (await page.locator('[data-testid="map"]').boundingBox())!;
    const [x0, y0, x1, y1] = [box.x + box.width * 0.35, box.y + box.height * 0.3, box.x + box.width * 0.6, box.y + box.height * 0.6];
    await page.mouse.click(x0, y0);
    await page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, { steps: 5 });
    await page.mouse.move(x1, y1, { steps: 5 });
    await page.mouse.click(x1, y1);
    const unsaved = page.getByTestId("unsaved-shape");
    await unsaved.waitFor();
    await unsaved.getByLabel("Area name").fill("Valley fields");
    await unsaved.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => page.getByTestId("aoi-list").textContent()).toMatch(/Valley fields/);
    await page.click('[data-tool="static"]');
    const aois = await api<{ name: string; area_km2: number }[]>(page, "/aois");
    const saved = aois.body.find((a) => a.name === "Valley fields")!;
    expect(saved.area_km2).toBeGreaterThan(0.1);
    expect(saved.area_km2).toBeLessThan(25);
    await page.waitForTimeout(400);
    await mapPng(page, "04-area-saved");
  });

  it("runs NDVI with live progress: the result is a coloured layer with a legend and statistics", async () => {
    await openTab(page, "analysis");
    const panel = page.getByRole("region", { name: "Analyses" });
    await panel.getByRole("tab", { name: "Spectral index" }).click();
    await panel.getByLabel("Scene", { exact: true }).selectOption({ label: "2024-05-10 · Demo valley 2024-05-10" });
    await panel.getByLabel("Index", { exact: true }).selectOption("ndvi");
    await panel.getByRole("button", { name: "Run" }).click();
    await panel.getByTestId("job-progress").first().waitFor();
    const card = panel.locator('[data-testid="result-card"][data-job-type="spectral-index"]').first();
    await card.waitFor({ timeout: 90_000 });
    ids.ndvi = (await card.getAttribute("data-job"))!;
    const job = await api<{ results_summary: { statistics: { mean: number } } }>(page, `/jobs/${ids.ndvi}`);
    // The statistics shown are the server's.
    expect(await card.getByTestId("result-stats").textContent()).toContain(`Mean${Number(job.body.results_summary.statistics.mean.toFixed(3))}`);
    await openTab(page, "layers");
    await expect.poll(() => page.getByTestId("layer-list").textContent()).toMatch(/NDVI result/);
    expect(await page.locator(`[data-layer="result:${ids.ndvi}"] [data-testid="legend"]`).textContent()).toMatch(/-1.*NDVI.*1/);
    await mapIdle(page, 1000);
    const stats = await pixelStats(page, await mapPng(page, "05-ndvi"), { green: "#1a9850", deepGreen: "#006837", lightGreen: "#66bd63" }, 45);
    console.log(`NDVI layer: green ${((stats.share.green! + stats.share.deepGreen! + stats.share.lightGreen!) * 100).toFixed(1)} %`);
    expect(stats.share.green! + stats.share.deepGreen! + stats.share.lightGreen!).toBeGreaterThan(0.1);
  });

  it("runs change detection: a change mask and changed-region polygons on the map", async () => {
    await openTab(page, "analysis");
    const panel = page.getByRole("region", { name: "Analyses" });
    await panel.getByRole("tab", { name: "Change detection" }).click();
    await panel.getByLabel("Before").selectOption({ label: "2024-05-10 · Demo valley 2024-05-10" });
    await panel.getByLabel("After").selectOption({ label: "2024-08-18 · Demo valley 2024-08-18" });
    await panel.getByLabel("Method").selectOption("diff");
    await panel.getByRole("button", { name: "Run" }).click();
    const card = panel.locator('[data-testid="result-card"][data-job-type="change-detection"]').first();
    await card.waitFor({ timeout: 90_000 });
    ids.change = (await card.getAttribute("data-job"))!;
    await card.getByTestId("region-list").waitFor({ timeout: 15_000 });
    expect(await card.getByTestId("result-stats").textContent()).toMatch(/Changed.*%.*Regions\d+/);
    await openTab(page, "layers");
    await expect.poll(() => page.getByTestId("layer-list").textContent()).toMatch(/Changed regions.*Change mask \(diff\)/);
    // The NDVI result sits under the new layers; hide it so the mask is seen on the scene.
    await page.locator(`[data-layer="result:${ids.ndvi}"] input[type="checkbox"]`).uncheck();
    await mapIdle(page, 1000);
    // Changed pixels are yellow; the regions' translucent red fill over them gives amber.
    const stats = await pixelStats(page, await mapPng(page, "06-change"), {});
    // Without the mask the scene has no yellow: the yellow is the mask's changed pixels.
    const mask = page.locator(`[data-layer="result:${ids.change}"] input[type="checkbox"]`);
    await mask.uncheck();
    await mapIdle(page, 500);
    const without = await pixelStats(page, await page.locator('[data-testid="map"]').screenshot(), {});
    await mask.check();
    console.log(`change mask: ${(stats.yellow * 100).toFixed(1)} % yellow/amber with it, ${(without.yellow * 100).toFixed(2)} % without`);
    expect(stats.yellow).toBeGreaterThan(0.008);
    expect(without.yellow).toBeLessThan(0.002);
  });

  it("opens a changed region's popup with its properties", async () => {
    await openTab(page, "analysis");
    const card = page.locator(`[data-testid="result-card"][data-job="${ids.change}"]`);
    await card.getByRole("button", { name: "Zoom to changed region 1" }).click();
    await mapIdle(page, 800);
    const box = (await page.locator('[data-testid="map"]').boundingBox())!;
    // The largest region's representative point, projected on the map.
    const point = await page.evaluate(async (id) => {
      const { accessToken } = JSON.parse(localStorage.getItem("terrascan.session")!);
      const fc = await (await fetch(`api/v1/analysis/results/${id}/features`, { headers: { Authorization: `Bearer ${accessToken}` } })).json();
      const ring: [number, number][] = fc.features[0].geometry.coordinates[0];
      const map = (window as unknown as { __terrascan: { map: { project(p: [number, number]): { x: number; y: number } } } }).__terrascan.map;
      // A point inside the polygon: scan the middle row of its bbox for the first inside run.
      const xs = ring.map((c) => c[0]);
      const ys = ring.map((c) => c[1]);
      const inside = (x: number, y: number) => {
        let c = false;
        for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
          const [xi, yi] = ring[i]!;
          const [xj, yj] = ring[j]!;
          if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c;
        }
        return c;
      };
      for (const fy of [0.5, 0.4, 0.6, 0.3, 0.7]) {
        const y = Math.min(...ys) + (Math.max(...ys) - Math.min(...ys)) * fy;
        for (let k = 1; k < 40; k++) {
          const x = Math.min(...xs) + ((Math.max(...xs) - Math.min(...xs)) * k) / 40;
          if (inside(x, y) && inside(x + (Math.max(...xs) - Math.min(...xs)) / 40, y)) return { ...map.project([x, y]), area: fc.features[0].properties.area_m2 };
        }
      }
      return null;
    }, ids.change!);
    expect(point).not.toBeNull();
    await page.mouse.click(box.x + point!.x, box.y + point!.y);
    const popup = page.getByRole("dialog", { name: "Changed regions" });
    await popup.waitFor({ timeout: 10_000 });
    const text = (await popup.textContent())!;
    expect(text).toMatch(/area_m2/);
    expect(text).toMatch(/pixels/);
    await page.screenshot({ path: shot("07-region-popup") });
    await popup.getByRole("button", { name: "Close" }).click();
  });

  it("exports the changed regions as GeoJSON: a download that parses, one feature per region", async () => {
    await openTab(page, "analysis");
    const card = page.locator(`[data-testid="result-card"][data-job="${ids.change}"]`);
    const [download] = await Promise.all([page.waitForEvent("download"), card.getByRole("button", { name: "Export GeoJSON" }).click()]);
    expect(download.suggestedFilename()).toMatch(/\.geojson$/);
    const path = (await download.path())!;
    const exported = JSON.parse(readFileSync(path, "utf8")) as { type: string; features: { geometry: { type: string }; properties: { area_m2: number } }[] };
    const regions = await api<{ features: unknown[] }>(page, `/analysis/results/${ids.change}/features`);
    expect(exported.type).toBe("FeatureCollection");
    expect(exported.features.length).toBe(regions.body.features.length);
    expect(exported.features.length).toBeGreaterThan(0);
    for (const f of exported.features) {
      expect(["Polygon", "MultiPolygon"]).toContain(f.geometry.type);
      expect(f.properties.area_m2).toBeGreaterThan(0);
    }
  });

  it("compares two dates: swipe, then side by side, both halves showing imagery", async () => {
    await openTab(page, "search");
    const panel = page.locator('[aria-label="Imagery search"]');
    await panel.getByTestId("search-result").filter({ hasText: "Demo valley 2024-08-18" }).getByRole("button", { name: "False colour" }).click();
    await openTab(page, "layers");
    for (const id of [ids.change, ids.ndvi]) {
      const box = page.locator(`[data-layer="result:${id}"] input[type="checkbox"]`);
      if (await box.isChecked()) await box.uncheck();
    }
    await page.locator(`[data-layer="regions:${ids.change}"] input[type="checkbox"]`).uncheck();
    const compare = page.getByTestId("compare");
    await compare.getByLabel("Swipe").check();
    await compare.getByLabel("Compare: left (before)").selectOption(`imagery:${ids.may}:bands`);
    await compare.getByLabel("Compare: right (after)").selectOption(`imagery:${ids.aug}:bands`);
    await page.waitForSelector('[data-testid="compare-map"][data-ready="true"]', { timeout: 20_000 });
    await page.waitForTimeout(2500);
    const main = page.locator(".main");
    const box = (await main.boundingBox())!;
    await page.screenshot({ path: shot("08-swipe") });
    const half = async (left: boolean) =>
      pixelStats(page, await page.screenshot({ clip: { x: box.x + (left ? 0.1 : 0.55) * box.width, y: box.y + 0.1 * box.height, width: 0.35 * box.width, height: 0.6 * box.height } }), {});
    const [l, r] = [await half(true), await half(false)];
    console.log(`swipe: left ${(l.notBasemap * 100).toFixed(0)} % imagery (std ${l.lumaStd.toFixed(1)}), right ${(r.notBasemap * 100).toFixed(0)} % (std ${r.lumaStd.toFixed(1)})`);
    expect(l.notBasemap).toBeGreaterThan(0.5);
    expect(r.notBasemap).toBeGreaterThan(0.5);
    expect(r.lumaStd).toBeGreaterThan(15);
    // Dragging the divider moves it.
    const divider = page.getByTestId("swipe-divider");
    const d = (await divider.boundingBox())!;
    await page.mouse.move(d.x + d.width / 2, d.y + d.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.25, d.y + d.height / 2, { steps: 5 });
    await page.mouse.up();
    expect(Number(await divider.getAttribute("aria-valuenow"))).toBeLessThan(35);
    await page.screenshot({ path: shot("09-swipe-moved") });

    await compare.getByLabel("Side by side").check();
    await page.waitForTimeout(2500);
    await page.screenshot({ path: shot("10-side-by-side") });
    const left = await pixelStats(page, await page.locator('[data-testid="map"]').screenshot(), {});
    const right = await pixelStats(page, await page.getByTestId("compare-map").screenshot(), {});
    expect(left.notBasemap).toBeGreaterThan(0.2);
    expect(right.notBasemap).toBeGreaterThan(0.2);
    // One camera: panning the left map moves the right one.
    const before = await page.evaluate(() => (window as unknown as { __terrascan: { map: { getCenter(): { lng: number } } } }).__terrascan.map.getCenter().lng);
    const lb = (await page.locator('[data-testid="map"]').boundingBox())!;
    await page.mouse.move(lb.x + lb.width / 2, lb.y + lb.height / 2);
    await page.mouse.down();
    await page.mouse.move(lb.x + lb.width / 2 - 100, lb.y + lb.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.waitForTimeout(300);
    const after = await page.evaluate(() => (window as unknown as { __terrascan: { map: { getCenter(): { lng: number } } } }).__terrascan.map.getCenter().lng);
    expect(after).toBeGreaterThan(before);
    await compare.getByLabel("Off").check();
    expect(pageErrors).toEqual([]);
  });

  it("filters imagery by date with the timeline", async () => {
    const timeline = page.getByTestId("timeline");
    await timeline.waitFor();
    await expect.poll(() => page.getByTestId("timeline-range").textContent()).toBe("2024-05-10 – 2024-08-18");
    const visibility = (id: string) =>
      page.evaluate(
        (layer) => (window as unknown as { __terrascan: { map: { getLayoutProperty(l: string, p: string): string } } }).__terrascan.map.getLayoutProperty(layer, "visibility"),
        `terrascan-raster-imagery:${id}:bands`,
      );
    expect(await visibility(ids.aug!)).toBe("visible");
    // It is one line in the map's top-left corner, clear of the fitted scene; closed at first.
    const closed = (await timeline.boundingBox())!;
    const mapBox = (await page.locator('[data-testid="map"]').boundingBox())!;
    expect(closed.height).toBeLessThan(36);
    expect(closed.y - mapBox.y).toBeLessThan(20);
    expect(closed.x - mapBox.x).toBeLessThan(20);
    expect(await timeline.getByLabel("Timeline end").count()).toBe(0);
    await timeline.getByRole("button", { name: "Dates", exact: true }).click();
    expect(await timeline.getByRole("button", { name: "Dates", exact: true }).getAttribute("aria-expanded")).toBe("true");
    // Open, the slider joins the same line.
    expect((await timeline.boundingBox())!.height).toBeLessThan(36);
    // Drag the end handle (the two inputs share one track; only their thumbs take the pointer)
    // from the last day to the first.
    const track = (await timeline.locator(".timeline-slider").boundingBox())!;
    await page.mouse.move(track.x + track.width - 7, track.y + track.height / 2);
    await page.mouse.down();
    await page.mouse.move(track.x + track.width / 2, track.y + track.height / 2, { steps: 4 });
    await page.mouse.move(track.x, track.y + track.height / 2, { steps: 4 });
    await page.mouse.up();
    expect(await timeline.getByLabel("Timeline end").inputValue()).toBe("0");
    await expect.poll(() => page.getByTestId("timeline-range").textContent()).toBe("2024-05-10 – 2024-05-10");
    await expect.poll(() => visibility(ids.aug!)).toBe("none");
    expect(await visibility(ids.may!)).toBe("visible");
    await mapIdle(page);
    await page.screenshot({ path: shot("11-timeline-may") });
    await timeline.getByRole("button", { name: "All dates" }).click();
    await expect.poll(() => visibility(ids.aug!)).toBe("visible");
    await expect.poll(() => page.getByTestId("timeline-range").textContent()).toBe("2024-05-10 – 2024-08-18");
    // Closed again, the slider goes and the choice is remembered.
    await timeline.getByRole("button", { name: "Dates", exact: true }).click();
    expect(await timeline.getByLabel("Timeline end").count()).toBe(0);
    expect(await page.evaluate(() => localStorage.getItem("terrascan.timeline.open"))).toBe("false");
  });
});

describe("the demo, with endpoints still being built", () => {
  it("says clearly that the external STAC catalogue is unreachable (discover answers 502 offline)", async () => {
    await openTab(page, "search");
    await page.getByRole("tab", { name: "Discover (STAC)" }).click();
    const panel = page.getByRole("region", { name: "Discover imagery" });
    await panel.getByRole("button", { name: "Discover" }).click();
    await panel.getByTestId("discover-upstream-error").waitFor({ timeout: 30_000 });
    expect(await panel.getByTestId("discover-upstream-error").textContent()).toMatch(/could not be reached.*502/);
    await page.screenshot({ path: shot("12-discover-502") });
    await page.getByRole("tab", { name: "Your catalog" }).click();
  });

  it("charts the NDVI time series over the demo area: one point per scene", async () => {
    await openTab(page, "stats");
    const panel = page.getByRole("region", { name: "Time series" });
    await panel.getByLabel("Time series index").selectOption("ndvi");
    await panel.getByLabel("Time series area").selectOption({ label: "Demo valley" });
    await panel.getByRole("button", { name: "Chart" }).click();
    await panel.getByTestId("timeseries-chart").waitFor({ timeout: 90_000 });
    expect(await panel.getByTestId("chart-point").count()).toBe(2);
    await page.screenshot({ path: shot("13-timeseries") });
  });

  it("computes zonal statistics of the NDVI result over two areas and downloads them as CSV", async () => {
    await openTab(page, "stats");
    const panel = page.getByRole("region", { name: "Zonal statistics" });
    await panel.getByLabel("Zonal source").selectOption(`job:${ids.ndvi}`);
    await panel.getByLabel("Demo valley").check();
    await panel.getByLabel("Valley fields").check();
    await panel.getByRole("button", { name: "Compute" }).click();
    const table = panel.getByTestId("zonal-table");
    await table.waitFor({ timeout: 90_000 });
    expect(await table.locator("tbody tr").count()).toBe(2);
    const [download] = await Promise.all([page.waitForEvent("download"), panel.getByRole("button", { name: "Download CSV" }).click()]);
    const csv = readFileSync((await download.path())!, "utf8").trim().split(/\r?\n/);
    expect(csv[0]).toMatch(/zone.*mean/);
    expect(csv).toHaveLength(3);
    await page.screenshot({ path: shot("14-zonal") });
  });

  it("creates a share link that works without signing in, then revokes it (410)", async () => {
    await openTab(page, "analysis");
    const card = page.locator(`[data-testid="result-card"][data-job="${ids.ndvi}"]`);
    await card.getByRole("button", { name: "Share link…" }).click();
    await card.getByRole("button", { name: "Create link" }).click();
    const url = await card.getByTestId("share-url").inputValue();
    expect(url).toMatch(/\/api\/v1\/shared\//);
    const anonymous = await browser.newContext();
    expect((await anonymous.request.get(url)).status()).toBe(200);
    await card.getByRole("button", { name: "Revoke" }).click();
    await card.getByText("The link was revoked").waitFor();
    expect((await anonymous.request.get(url)).status()).toBe(410);
    await anonymous.close();
  });
});
