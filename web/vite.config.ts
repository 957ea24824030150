/**
 * Vite and Vitest settings for the upload page.
 *
 * The build is configuration-free: every stack (and the local stack) writes its own
 * /config.json next to index.html, so one dist/ serves them all. For `npm run dev` a
 * small plugin answers /config.json from web/config.dev.json, or from the running local
 * stack's .local/stack.json, without ever copying it into dist/.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vitest/config";

const DEV_CONFIG = resolve(import.meta.dirname, "config.dev.json");
const LOCAL_STACK = resolve(import.meta.dirname, "..", ".local", "stack.json");

/** The dev server's /config.json: config.dev.json wins, else the local stack's values. */
function devConfigBody(): string | undefined {
  if (existsSync(DEV_CONFIG)) return readFileSync(DEV_CONFIG, "utf8");
  if (!existsSync(LOCAL_STACK)) return undefined;
  const stack = JSON.parse(readFileSync(LOCAL_STACK, "utf8")) as Record<string, unknown>;
  const { apiUrl, region, userPoolId, userPoolClientId, cognitoEndpoint } = stack;
  return JSON.stringify({ apiUrl, region, userPoolId, userPoolClientId, cognitoEndpoint, mode: "local" });
}

function runtimeConfig(): Plugin {
  return {
    name: "skinlesion-runtime-config",
    configureServer(server) {
      server.middlewares.use("/config.json", (_req, res) => {
        const body = devConfigBody();
        // A 404, not the SPA fallback's index.html: the page then says config.json is missing.
        res.statusCode = body === undefined ? 404 : 200;
        res.setHeader("Content-Type", body === undefined ? "text/plain" : "application/json");
        res.end(body ?? "No web/config.dev.json and no .local/stack.json: see docs/web.md");
      });
    },
    buildStart() {
      // A config baked into dist/ would override the one each stack writes.
      if (existsSync(resolve(import.meta.dirname, "public", "config.json"))) {
        this.error("public/config.json must not exist: the stacks write config.json at deploy time");
      }
    },
  };
}

export default defineConfig({
  // Relative asset URLs: the same dist/ works at a site root or under a path prefix.
  base: "./",
  plugins: [react(), runtimeConfig()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
    unstubGlobals: true,
  },
});
