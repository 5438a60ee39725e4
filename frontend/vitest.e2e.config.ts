/**
 * Browser journeys: Playwright (playwright-core) driving Debian's Chromium against a real
 * `terrascan serve` started on a free port with a throwaway data directory (e2e/server.ts).
 * Run with `npm run e2e` after `npm run build`; screenshots land in e2e/screenshots/.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.ts"],
    environment: "node",
    globalSetup: ["e2e/server.ts"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 90_000,
  },
});
