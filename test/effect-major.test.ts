/**
 * Importing @agentloop/core with an effect of another major fails at import time with an error that says
 * what to do. The package's sources are compiled one by one as `tsc` emits them and loaded by plain `node`
 * from a folder whose `effect` is a stand-in: one shaped like Effect 3 (no `Version` export) and one that
 * links but reports major 5.
 */
import { execFile } from "node:child_process"
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { supportedMajor, unsupported } from "../packages/core/src/internal/effectMajor.js"
import { installCore, userEnv } from "./support/compiledCore.js"

const work = mkdtempSync(join(tmpdir(), "agentloop-effect-major-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** A folder with the compiled core and a stand-in effect. */
const project = (name: string, effect: { readonly version: string; readonly index: string }) => {
  const dir = join(work, name)
  installCore(dir)
  const effectDir = join(dir, "node_modules", "effect")
  mkdirSync(effectDir, { recursive: true })
  writeFileSync(join(effectDir, "package.json"), JSON.stringify({ name: "effect", version: effect.version, type: "module", exports: { ".": "./index.js" } }))
  writeFileSync(join(effectDir, "index.js"), effect.index)
  writeFileSync(join(dir, "app.mjs"), `import { Agent } from "@agentloop/core"\nconsole.log(typeof Agent.make)\n`)
  return dir
}

const runNode = (cwd: string) =>
  new Promise<{ code: number | null; stderr: string }>((resolve) =>
    execFile(process.execPath, ["app.mjs"], { cwd, encoding: "utf8", timeout: 30_000, env: userEnv() }, (error, _stdout, stderr) =>
      resolve({ code: error === null ? 0 : (error.code as number | null), stderr })
    )
  )

let effectNames: Array<string> = []
beforeAll(async () => {
  effectNames = Object.keys(await import("effect"))
})

/** Every name the real effect exports, as stand-ins (`{}`), but `Version` as given. */
const standIn = (version: string | undefined) =>
  effectNames
    .filter((name) => name !== "Version")
    .map((name) => `export const ${name} = {}`)
    .concat(version === undefined ? [] : [`export const Version = { getCurrentVersion: () => ${JSON.stringify(version)} }`])
    .join("\n")

describe("the installed effect major", () => {
  it("4.x is supported; any other major is refused with a message naming the installed version and the fix", () => {
    expect(supportedMajor).toBe(4)
    expect(unsupported("4.1.5")).toBeUndefined()
    expect(unsupported("4.9.0")).toBeUndefined()
    expect(unsupported("3.22.4")).toBe(
      '@agentloop/core needs effect 4.x (peer dependency "effect": "^4.1.5"), but effect 3.22.4 is installed. Install a supported version: npm install effect@^4.1.5'
    )
    expect(unsupported("5.0.0")).toContain("but effect 5.0.0 is installed")
  })

  it("with an Effect 3-shaped effect, node stops at core's first import and prints the line that says what to do", async () => {
    const result = await runNode(project("v3", { version: "3.22.4", index: standIn(undefined) }))
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain("does not provide an export named 'Version'")
    expect(result.stderr).toContain("@agentloop/core needs effect 4.x, this effect is older: npm install effect@^4.1.5")
    expect(result.stderr).toContain("internal/effectMajor.js")
  }, 60_000)

  it("with an effect that links but is major 5, the check throws before any other module of core runs", async () => {
    const result = await runNode(project("v5", { version: "5.0.0", index: standIn("5.0.0") }))
    expect(result.code).not.toBe(0)
    // The stand-in's modules are empty objects: had another module of core run first, it would have died
    // with a TypeError (e.g. `Schema.Class is not a function`) instead.
    expect(result.stderr).toContain('Error: @agentloop/core needs effect 4.x (peer dependency "effect": "^4.1.5"), but effect 5.0.0 is installed.')
    expect(result.stderr).not.toContain("TypeError")
  }, 60_000)

  it("with effect 4 the same compiled core loads", async () => {
    const dir = project("v4", { version: "4.1.5", index: standIn("4.1.5") })
    // The real effect 4, so the rest of core can run.
    rmSync(join(dir, "node_modules", "effect"), { recursive: true })
    symlinkSync(realpathSync(join(import.meta.dirname, "..", "node_modules", "effect")), join(dir, "node_modules", "effect"))
    const result = await runNode(dir)
    expect(result).toEqual({ code: 0, stderr: "" })
  }, 60_000)
})
