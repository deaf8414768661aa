/**
 * W2 A/B (see w2-ab.ts): extracts packages/wire/src at a base ref into .build/ab-old, bundles the A/B with
 * both versions compiled alike from source (effect external, one instance), and runs it with --expose-gc.
 * The base ref's wire sources run on this tree's `effect`: it must be on the same major version of Effect (4).
 * Usage: node bench/w2-ab.mjs <base-ref> [megabytes] [repetitions]   (env AB_ONLY=<group> runs one group)
 */
import { build } from "esbuild"
import { execFileSync, spawn } from "node:child_process"
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const [ref = "HEAD", ...rest] = process.argv.slice(2)
const old = join(here, ".build", "ab-old")
rmSync(old, { recursive: true, force: true })
mkdirSync(old, { recursive: true })
const files = execFileSync("git", ["ls-tree", "--name-only", ref, "packages/wire/src/"], { cwd: join(here, "..") }).toString().trim().split("\n")
for (const file of files) writeFileSync(join(old, file.split("/").pop()), execFileSync("git", ["show", `${ref}:${file}`], { cwd: join(here, "..") }))
await build({
  entryPoints: [join(here, "w2-ab.ts")],
  bundle: true,
  external: ["effect", "effect/*", "@effect/*", "eventsource-parser"],
  conditions: ["@agentloop/source"],
  alias: { "#old": old },
  platform: "node",
  format: "esm",
  target: "node20",
  outfile: join(here, ".build", "w2-ab.mjs"),
  logLevel: "warning"
})
const child = spawn(process.execPath, ["--expose-gc", ...(process.env.AB_NODE_FLAGS ?? "").split(" ").filter(Boolean), join(here, ".build", "w2-ab.mjs"), ...rest], { stdio: "inherit" })
child.on("close", (code) => process.exit(code ?? 1))
