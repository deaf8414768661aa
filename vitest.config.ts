import { defineConfig } from "vitest/config"

/**
 * Tests run on the packages' sources, never on a build: the `@agentloop/source` export condition points every
 * `@agentloop/*` import at `src/*.ts` (see docs/releasing.md). Processes the tests spawn (tsx scripts) inherit
 * it through NODE_OPTIONS.
 */
const sourceCondition = "@agentloop/source"
// No "module" condition: Vite would resolve packages like @opentelemetry/semantic-conventions to their
// bundler-only ESM build, which plain Node (running the externalized dependency) cannot load.
const conditions = [sourceCondition, "node", "development|production"]
if (!(process.env.NODE_OPTIONS ?? "").includes(`--conditions=${sourceCondition}`)) {
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} --conditions=${sourceCondition}`.trim()
}

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts", "examples/**/*.test.ts"],
    testTimeout: 30_000
  }
})
