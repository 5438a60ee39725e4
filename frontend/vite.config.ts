/// <reference types="vitest/config" />
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The built app lives inside the Python package, which serves it at "/" (see
// src/terrascan/api/app.py). Relative asset paths let it also work behind a path prefix.
const outDir = fileURLToPath(new URL("../src/terrascan/web/static", import.meta.url));
const apiTarget = `http://127.0.0.1:${process.env.TERRASCAN_PORT ?? "8000"}`;

export default defineConfig({
  plugins: [react()],
  base: "./",
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: false,
    target: "es2022",
    chunkSizeWarningLimit: 1200,
    reportCompressedSize: true,
    rolldownOptions: {
      output: {
        // Libraries in their own chunks: they change less often than the app, so browsers keep
        // them cached across TerraScan upgrades, and the build report shows what weighs what.
        codeSplitting: {
          groups: [
            { name: "maplibre", test: /node_modules[\\/](maplibre-gl|@maplibre)[\\/]/ },
            { name: "deckgl", test: /node_modules[\\/](@deck\.gl|@luma\.gl|@math\.gl|@loaders\.gl|@probe\.gl|mjolnir\.js|gl-matrix)[\\/]/ },
            { name: "terra-draw", test: /node_modules[\\/]terra-draw/ },
            { name: "react", test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/ },
          ],
        },
      },
    },
  },
  server: {
    // `npm run dev` against a `terrascan serve` running on TERRASCAN_PORT (default 8000).
    proxy: { "/api": apiTarget },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
    benchmark: { include: ["bench/**/*.bench.ts"] },
  },
});
