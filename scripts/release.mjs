/**
 * `pnpm release`: publishes every package whose version is not on the registry yet (see docs/releasing.md).
 *
 * - `pnpm release --dry-run`: builds, prints the pending changesets (`changeset status --verbose`), then runs
 *   `pnpm publish --dry-run` for each public package, which lists exactly what would be published (name,
 *   version, tarball contents) and skips versions already on the registry. Publishes nothing.
 * - `pnpm release`: runs the consumer check (build, pack, publint, attw, install, run, type-check) and, if it
 *   passes, `changeset publish` (pnpm publish per package: `workspace:` ranges become versions; git tags).
 */
import { spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const dryRun = process.argv.includes("--dry-run")

const run = (command, args, { allowFailure = false } = {}) =>
  new Promise((resolve, reject) => {
    console.log(`\n$ ${command} ${args.join(" ")}`)
    const child = spawn(command, args, { cwd: root, stdio: "inherit" })
    child.on("error", reject)
    child.on("close", (code) => {
      if (code === 0 || allowFailure) resolve(code)
      else reject(new Error(`${command} ${args.join(" ")} exited with ${code}`))
    })
  })

try {
  if (dryRun) {
    await run("pnpm", ["build"])
    const status = await run("pnpm", ["changeset", "status", "--verbose"], { allowFailure: true })
    if (status !== 0) {
      console.log("(changeset status failed: packages changed since the base branch without a changeset; `pnpm changeset` adds one.)")
    }
    await run("pnpm", ["-r", "--filter", "./packages/*", "publish", "--dry-run", "--no-git-checks"])
    console.log("\nrelease --dry-run: nothing was published. The packages listed above are what `pnpm release` would publish.")
  } else {
    await run("pnpm", ["consumer-check"])
    await run("pnpm", ["changeset", "publish"])
    console.log("\nrelease: published. Push the new tags: git push --follow-tags")
  }
} catch (error) {
  console.error(`release: ${error.message}`)
  process.exit(1)
}
