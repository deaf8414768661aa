/**
 * `pnpm bench` measures shipped code: it builds the packages (`pnpm build`, incremental) and runs the bench
 * against their dist/ output, the JavaScript that `pnpm pack` publishes. The bench's own TypeScript is
 * compiled by esbuild with every package left external, so `@agentloop/*` (and the peer libraries) are
 * loaded by Node from their published entry points, not re-bundled, and not transpiled on the fly by tsx
 * (which wraps every function in a `__name` helper).
 */
import { build } from "esbuild"
import { copyFileSync, mkdirSync } from "node:fs"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { dirname, join } from "node:path"

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, "..")
const out = join(here, ".build")
/** Without the workspace's source condition, so `@agentloop/*` resolves to dist/ as it does for a user. */
const env = { ...process.env }
delete env.NODE_OPTIONS

const exec = (command, args, options) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: "inherit", env, ...options })
    child.on("error", reject)
    child.on("close", (code) => resolve(code ?? 1))
  })

// `--no-build`: run against the dist/ already there (e.g. while another package of the workspace does not build).
if (!process.argv.includes("--no-build")) {
  const built = await exec("pnpm", ["build"], { cwd: root })
  if (built !== 0) process.exit(built)
}
for (const name of ["@agentloop/core", "@agentloop/wire", "@agentloop/testing"]) {
  const resolved = fileURLToPath(import.meta.resolve(name))
  if (!resolved.includes(`${join("packages", name.slice("@agentloop/".length), "dist")}`)) {
    throw new Error(`${name} resolves to ${resolved}, not to its dist/ build`)
  }
}

mkdirSync(out, { recursive: true })
await build({
  entryPoints: [join(here, "run.ts")],
  bundle: true,
  packages: "external",
  platform: "node",
  format: "esm",
  target: "node20",
  outfile: join(out, "run.mjs"),
  logLevel: "warning"
})
copyFileSync(join(here, "notes.md"), join(out, "notes.md"))
copyFileSync(join(here, "summary.md"), join(out, "summary.md"))
process.exit(await exec(process.execPath, ["--expose-gc", join(out, "run.mjs"), ...process.argv.slice(2).filter((a) => a !== "--no-build")], {}))
