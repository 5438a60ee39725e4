/**
 * Start a real TerraScan server for the journeys: `terrascan serve` from the project's
 * virtualenv (or TERRASCAN_BIN), on a free port, with a temporary data directory that is
 * removed afterwards, seeded with the offline demo (`--demo`: a demo user with two scenes over one
 * area). The built app must already be in src/terrascan/web/static/.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    baseURL: string;
    /** A small synthetic 4-band GeoTIFF to upload. */
    uploadTiff: string;
    /** The demo user `serve --demo` seeded (two scenes over one area) and its password. */
    demoEmail: string;
    demoPassword: string;
  }
}

const ROOT = resolve(import.meta.dirname, "..", "..");

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? done(address.port) : fail(new Error("no port"))));
    });
  });
}

async function waitForHealth(url: string, child: ChildProcess, log: () => string, seconds = 60): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`terrascan serve exited with ${child.exitCode}:\n${log()}`);
    try {
      const response = await fetch(`${url}/api/v1/health`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`terrascan serve did not answer within ${seconds} s:\n${log()}`);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const built = join(ROOT, "src/terrascan/web/static/index.html");
  if (!existsSync(built) || !readFileSync(built, "utf8").includes("assets/")) {
    throw new Error("the web app is not built: run `npm run build` in frontend/ first");
  }
  const bin = process.env.TERRASCAN_BIN ?? join(ROOT, ".venv/bin/terrascan");
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "terrascan-e2e-"));
  let output = "";
  const child = spawn(bin, ["serve", "--demo", "--host", "127.0.0.1", "--port", String(port)], {
    cwd: ROOT,
    env: { ...process.env, TERRASCAN_DATA_DIR: dataDir, TERRASCAN_PORT: String(port), TERRASCAN_LOG_LEVEL: "WARNING" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const baseURL = `http://127.0.0.1:${port}`;
  const uploadTiff = join(dataDir, "fields-and-lake.tif");
  const python = process.env.TERRASCAN_PYTHON ?? join(ROOT, ".venv/bin/python");
  execFileSync(python, [join(ROOT, "frontend/scripts/make-upload-fixture.py"), uploadTiff]);
  try {
    await waitForHealth(baseURL, child, () => output);
  } catch (error) {
    child.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  const demo = /demo: sign in as (\S+) with password (\S+)/.exec(output);
  if (!demo) {
    child.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`terrascan serve --demo did not print the demo user:\n${output}`);
  }
  project.provide("demoEmail", demo[1]!);
  project.provide("demoPassword", demo[2]!);
  project.provide("baseURL", baseURL);
  project.provide("uploadTiff", uploadTiff);
  return async () => {
    child.kill("SIGTERM");
    await new Promise((r) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        r(undefined);
      }, 5000);
      child.once("exit", () => {
        clearTimeout(timer);
        r(undefined);
      });
    });
    rmSync(dataDir, { recursive: true, force: true });
  };
}
