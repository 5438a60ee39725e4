/**
 * Journeys through the built app, in Chromium, against a real `terrascan serve`. Each saves a
 * screenshot in e2e/screenshots/ for a person to look at; the map's pixels are checked so an
 * empty canvas fails the run.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { launch, pixelStats, screenshotPath } from "./browser";

const baseURL = inject("baseURL");
const OFFLINE = { sea: "#dce8f0", land: "#f4f1ea" };
const EMAIL = `ada-${Date.now()}@example.org`;
const PASSWORD = "correct horse battery staple";

let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];

async function mapReady(p: Page): Promise<void> {
  await p.waitForSelector('[data-testid="map"][data-ready="true"]', { timeout: 30_000 });
  // Let the country outlines arrive and the last frame render.
  await p.waitForFunction(() => document.querySelector(".maplibregl-canvas") !== null);
  await p.waitForTimeout(800);
}

async function openTab(p: Page, tab: string): Promise<void> {
  await p.click(`[data-tab="${tab}"]`);
}

async function mapBox(p: Page) {
  const box = await p.locator('[data-testid="map"]').boundingBox();
  if (!box) throw new Error("the map has no box");
  return box;
}

async function signIn(p: Page): Promise<void> {
  await p.getByRole("button", { name: "Sign in", exact: true }).first().click();
  const dialog = p.getByTestId("auth-dialog");
  await dialog.getByLabel("Email").fill(EMAIL);
  await dialog.getByLabel("Password").fill(PASSWORD);
  await dialog.getByRole("button", { name: "Sign in" }).click();
  await p.getByTestId("user-email").waitFor();
}

beforeAll(async () => {
  browser = await launch();
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(error.message));
});

afterAll(async () => {
  await browser?.close();
});

describe("the map viewer", () => {
  it("loads, named TerraScan, and draws the offline basemap (not a blank canvas)", async () => {
    await page.goto(baseURL);
    expect(await page.title()).toMatch(/TerraScan/);
    await mapReady(page);
    await page.mouse.move(900, 400);
    await expect.poll(() => page.getByTestId("coordinates").textContent()).toMatch(/-?\d+\.\d{5}°, -?\d+\.\d{5}°/);
    const png = await page.locator('[data-testid="map"]').screenshot({ path: screenshotPath("01-map-offline.png") });
    await page.screenshot({ path: screenshotPath("01-app.png") });
    const stats = await pixelStats(page, png, OFFLINE);
    // Sea and land both cover a good part of the world view, with borders and graticule lines.
    expect(stats.share.sea).toBeGreaterThan(0.2);
    expect(stats.share.land).toBeGreaterThan(0.1);
    expect(stats.distinct).toBeGreaterThan(20);
    expect(await page.locator(".maplibregl-ctrl-zoom-in").count()).toBe(1);
    expect(await page.locator(".maplibregl-ctrl-scale").textContent()).toMatch(/km/);
    expect(pageErrors).toEqual([]);
  });

  it("previews an index in the browser, on the map, with a legend and its timing", async () => {
    await openTab(page, "preview");
    await page.getByRole("button", { name: "Preview", exact: true }).click();
    const result = page.getByTestId("preview-result");
    await result.waitFor();
    const ms = Number.parseFloat((await page.getByTestId("preview-ms").textContent()) ?? "NaN");
    expect(ms).toBeGreaterThan(0);
    // Timing is reported, not asserted (the budget is 50 ms; see bench/ for the benchmark).
    const warm: number[] = [];
    for (let i = 0; i < 7; i++) {
      await page.getByRole("button", { name: "Preview", exact: true }).click();
      await page.waitForTimeout(150);
      warm.push(Number.parseFloat((await page.getByTestId("preview-ms").textContent()) ?? "NaN"));
    }
    warm.sort((a, b) => a - b);
    console.log(
      `index preview in Chromium (decode .npy, scale, NDVI, colour; 512 x 512): first ${ms.toFixed(1)} ms, ` +
        `then median ${warm[3]!.toFixed(1)} ms, min ${warm[0]!.toFixed(1)} ms, max ${warm[6]!.toFixed(1)} ms`,
    );
    await page.waitForTimeout(500);
    const png = await page.locator('[data-testid="map"]').screenshot({ path: screenshotPath("02-index-preview.png") });
    const stats = await pixelStats(page, png, { green: "#1a9850", deepGreen: "#006837", red: "#a50026" }, 40);
    expect(stats.share.green! + stats.share.deepGreen!).toBeGreaterThan(0.01);
    await openTab(page, "layers");
    await expect.poll(() => page.getByTestId("layer-list").textContent()).toMatch(/Preview · NDVI/);
  });
});

describe("accounts, areas and sessions", () => {
  it("registers, signs out and signs back in", async () => {
    await page.getByRole("button", { name: "Register" }).click();
    const dialog = page.getByTestId("auth-dialog");
    await dialog.getByLabel("Name").fill("Ada");
    await dialog.getByLabel("Email").fill(EMAIL);
    await dialog.getByLabel("Password").fill(PASSWORD);
    await dialog.getByRole("button", { name: "Create account" }).click();
    await expect.poll(() => page.getByTestId("user-email").textContent()).toBe("Ada");
    const org = page.getByTestId("org-switcher");
    await expect.poll(() => org.textContent()).toMatch(/personal.*owner/);
    await page.screenshot({ path: screenshotPath("03-signed-in.png") });

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Register" }).waitFor();
    expect(await page.evaluate(() => localStorage.getItem("terrascan.session"))).toBeNull();
    await signIn(page);
  });

  it("draws a rectangle, saves it as an area, and finds it again after a reload", async () => {
    await openTab(page, "areas");
    await page.getByTestId("aoi-list").or(page.getByText("No areas yet")).first().waitFor();
    await page.click('[data-tool="rectangle"]');
    const box = await mapBox(page);
    const [x0, y0] = [box.x + box.width * 0.55, box.y + box.height * 0.35];
    await page.mouse.click(x0, y0);
    await page.mouse.move(x0 + 60, y0 + 40, { steps: 5 });
    await page.mouse.move(x0 + 120, y0 + 80, { steps: 5 });
    await page.mouse.click(x0 + 120, y0 + 80);
    const unsaved = page.getByTestId("unsaved-shape");
    await unsaved.waitFor();
    await unsaved.getByLabel("Area name").fill("Sahel test area");
    await unsaved.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => page.getByTestId("aoi-list").textContent()).toMatch(/Sahel test area/);
    await page.click('[data-tool="static"]');
    await page.waitForTimeout(400);
    const png = await page.locator('[data-testid="map"]').screenshot({ path: screenshotPath("04-area-saved.png") });
    const stats = await pixelStats(page, png, { amber: "#f59e0b", amberLine: "#d97706" }, 50);
    expect(stats.share.amber! + stats.share.amberLine!).toBeGreaterThan(0.001);

    await page.reload();
    await mapReady(page);
    await page.getByTestId("user-email").waitFor();
    await openTab(page, "areas");
    await expect.poll(() => page.getByTestId("aoi-list").textContent(), { timeout: 15_000 }).toMatch(/Sahel test area/);
  });

  it("keeps an unsaved drawing through an ended session and saves it after signing in again", async () => {
    await page.click('[data-tool="polygon"]');
    const box = await mapBox(page);
    const corners: [number, number][] = [
      [0.3, 0.55],
      [0.4, 0.5],
      [0.45, 0.62],
      [0.33, 0.68],
    ];
    for (const [fx, fy] of corners) {
      await page.mouse.move(box.x + box.width * fx, box.y + box.height * fy, { steps: 3 });
      await page.mouse.click(box.x + box.width * fx, box.y + box.height * fy);
    }
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.55, { steps: 3 });
    await page.mouse.click(box.x + box.width * 0.3, box.y + box.height * 0.55);
    const unsaved = page.getByTestId("unsaved-shape");
    await unsaved.waitFor();
    await unsaved.getByLabel("Area name").fill("Drawn before the session ended");

    // End the sign-in session behind the app's back, as an administrator or another device would.
    const status = await page.evaluate(async () => {
      const tokens = JSON.parse(localStorage.getItem("terrascan.session")!);
      const response = await fetch("api/v1/auth/logout", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: tokens.refreshToken }),
      });
      return response.status;
    });
    expect(status).toBe(204);

    await unsaved.getByRole("button", { name: "Save" }).click();
    const dialog = page.getByTestId("auth-dialog");
    await expect.poll(() => dialog.textContent()).toMatch(/Your session has ended/);
    await page.screenshot({ path: screenshotPath("05-session-ended.png") });
    expect(await dialog.getByLabel("Email").inputValue()).toBe(EMAIL);
    await dialog.getByLabel("Password").fill(PASSWORD);
    await dialog.getByRole("button", { name: "Sign in" }).click();
    await dialog.waitFor({ state: "detached" });

    // The drawing and its name are still there.
    expect(await unsaved.getByLabel("Area name").inputValue()).toBe("Drawn before the session ended");
    await unsaved.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => page.getByTestId("aoi-list").textContent()).toMatch(/Drawn before the session ended/);
  });

  it("switches organisation: each sees only its own areas (X-Organization-ID)", async () => {
    const created = await page.evaluate(async () => {
      const { accessToken } = JSON.parse(localStorage.getItem("terrascan.session")!);
      const response = await fetch("api/v1/orgs", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${accessToken}` },
        body: JSON.stringify({ name: "Forest watch" }),
      });
      return response.status;
    });
    expect(created).toBe(201);
    await page.reload();
    await mapReady(page);
    await openTab(page, "areas");
    const switcher = page.getByTestId("org-switcher");
    await expect.poll(() => switcher.locator("option").count()).toBe(2);
    await expect.poll(() => page.getByTestId("aoi-list").textContent()).toMatch(/Sahel test area/);
    await switcher.selectOption({ label: "Forest watch · owner" });
    await expect.poll(() => page.getByText("No areas yet").isVisible()).toBe(true);
    await switcher.selectOption({ index: 0 });
    await expect.poll(() => page.getByTestId("aoi-list").textContent()).toMatch(/Sahel test area/);
  });

  it("says clearly when a search finds nothing", async () => {
    await openTab(page, "search");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await expect.poll(() => page.locator('[aria-label="Imagery search"] [data-state]').first().getAttribute("data-state")).toBe("empty");
    await page.screenshot({ path: screenshotPath("06-search-empty.png") });
  });

  it("uploads a GeoTIFF and finds it: a listed scene with its thumbnail, a footprint on the map", async () => {
    const panel = page.locator('[aria-label="Imagery search"]');
    await panel.getByLabel("Where").selectOption("anywhere");
    await panel.locator("details.upload summary").click();
    const form = page.getByTestId("upload-form");
    await form.getByLabel("File", { exact: true }).setInputFiles(inject("uploadTiff"));
    await form.getByLabel("Bands (file band to common name)").fill("blue=1,green=2,red=3,nir=4");
    await form.getByLabel("Name", { exact: true }).fill("Fields and lake");
    await form.getByLabel("Acquired").fill("2024-05-01");
    await form.getByRole("button", { name: "Upload" }).click();
    const result = page.getByTestId("search-result").first();
    await result.waitFor({ timeout: 30_000 });
    expect(await result.textContent()).toMatch(/Fields and lake.*2024-05-01/);
    const thumbnail = result.locator("img.thumb");
    await expect.poll(() => thumbnail.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), { timeout: 15_000 }).toBeGreaterThan(0);
    await result.getByRole("button", { name: "Fields and lake" }).click();
    await page.waitForTimeout(1200);
    const before = await pixelStats(page, await page.locator('[data-testid="map"]').screenshot(), { footprint: "#2563eb" }, 40);
    expect(before.share.footprint).toBeGreaterThan(0.0003);

    // The scene's quicklook over its footprint: the fields show dark on the map.
    await result.getByRole("button", { name: "Quicklook on the map" }).click();
    await page.waitForTimeout(1000);
    await page.screenshot({ path: screenshotPath("07-uploaded-imagery.png") });
    const after = await pixelStats(page, await page.locator('[data-testid="map"]').screenshot(), {});
    expect(before.dark).toBeLessThan(0.01);
    expect(after.dark).toBeGreaterThan(0.1);
  });

  it("offers the analysis wizards now that the server runs analyses", async () => {
    await openTab(page, "analysis");
    const panel = page.getByRole("region", { name: "Analyses" });
    await panel.waitFor({ timeout: 15_000 });
    await expect.poll(() => panel.getByRole("tab", { name: "Spectral index" }).isEnabled()).toBe(true);
    await expect.poll(() => panel.getByRole("tab", { name: "Change detection" }).isEnabled()).toBe(true);
    // The scene uploaded in the journey above is ready, so it can be picked for an index.
    const scenes = await panel.locator("select").first().locator("option").allTextContents();
    expect(scenes.some((text) => text.includes("Fields and lake"))).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});
