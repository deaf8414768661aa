/**
 * The size of a minimal agent app (`bench/size-app.ts`) bundled for the browser or an edge runtime: esbuild,
 * minified, ESM, tree-shaken, measured raw, gzip and brotli. The same source is bundled against a tree's
 * built packages: its `@agentloop/core` dist and its `effect`, resolved from that tree's `bench/` (as a
 * user's bundler resolves an installed package). `node:` built-ins are left external and listed: core
 * imports `node:crypto` (ids, the state seal, approval digests) and `node:os` (the claim's host name).
 */
import { build, type Metafile } from "esbuild"
import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { brotliCompressSync, constants, gzipSync } from "node:zlib"

// Run bundled from bench/.build/ or directly from bench/.
const appPath = [new URL("../size-app.ts", import.meta.url), new URL("./size-app.ts", import.meta.url)]
  .map((url) => fileURLToPath(url))
  .find((path) => existsSync(path))!

/** The repository this bench belongs to. */
export const thisTree: string = join(dirname(appPath), "..")

export type Platform = "browser" | "neutral"

export interface BundleSize {
  readonly bytes: number
  readonly gzip: number
  readonly brotli: number
  /** Minified bytes in the output by origin: `effect`, `@agentloop/core`, anything else. */
  readonly effect: number
  readonly core: number
  readonly other: number
  /** The `effect` version the bundle holds. */
  readonly effectVersion: string
  /** `node:` built-ins left external. */
  readonly external: ReadonlyArray<string>
}

const originOf = (input: string): "effect" | "core" | "other" =>
  /(^|\/)effect@[^/]+\/node_modules\/effect\//.test(input) || /node_modules\/effect\//.test(input)
    ? "effect"
    : /packages\/core\/dist\//.test(input)
      ? "core"
      : "other"

/** Bundles the app against `tree`'s packages for `platform`. */
export const bundleSize = async (tree: string, platform: Platform): Promise<BundleSize> => {
  const resolveDir = join(tree, "bench")
  const result = await build({
    stdin: { contents: readFileSync(appPath, "utf8"), loader: "ts", resolveDir, sourcefile: "size-app.ts" },
    bundle: true,
    minify: true,
    format: "esm",
    platform,
    target: "es2022",
    external: ["node:*"],
    legalComments: "none",
    metafile: true,
    write: false,
    outfile: "app.js",
    logLevel: "error"
  })
  const output = result.outputFiles.find((file) => file.path.endsWith(".js"))!.contents
  const meta: Metafile["outputs"][string] = Object.values(result.metafile.outputs)[0]!
  const by = { effect: 0, core: 0, other: 0 }
  for (const [input, { bytesInOutput }] of Object.entries(meta.inputs)) by[originOf(input)] += bytesInOutput
  const effectVersion = (JSON.parse(readFileSync(join(resolveDir, "node_modules", "effect", "package.json"), "utf8")) as { version: string }).version
  return {
    bytes: output.length,
    gzip: gzipSync(output, { level: 9 }).length,
    brotli: brotliCompressSync(output, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
    ...by,
    effectVersion,
    external: [...new Set(meta.imports.filter((i) => i.external).map((i) => i.path))].sort()
  }
}

/**
 * The same app bundled by this file (esbuild 0.28.2, browser) against the Effect 3 tree (e6126a7: effect
 * 3.22.4, its packages built), 2026-12-07: quoted, for a `pnpm bench` run without `--base-tree`.
 */
export const effect3Bundle = {
  tree: "Effect 3 tree, e6126a7 (quoted, 2026-12-07)",
  effectVersion: "3.22.4",
  bytes: 667_439,
  gzip: 208_554,
  brotli: 177_119,
  effect: 528_621,
  core: 83_290,
  other: 55_432
} as const
