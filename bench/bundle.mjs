/**
 * `pnpm bench` measures shipped code: the bench and every package it imports are bundled with esbuild
 * (as a build would compile them) rather than transpiled on the fly by tsx, which wraps every function in a
 * `__name` helper. The peers are prebuilt JavaScript either way.
 */
import { build } from "esbuild"
import { copyFileSync, mkdirSync } from "node:fs"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { dirname, join } from "node:path"

const here = dirname(fileURLToPath(import.meta.url))
const out = join(here, ".build")
mkdirSync(out, { recursive: true })
await build({
  entryPoints: [join(here, "run.ts")],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outfile: join(out, "run.mjs"),
  logLevel: "warning",
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" }
})
copyFileSync(join(here, "notes.md"), join(out, "notes.md"))
const result = spawnSync(process.execPath, ["--expose-gc", join(out, "run.mjs"), ...process.argv.slice(2)], { stdio: "inherit" })
process.exit(result.status ?? 1)
