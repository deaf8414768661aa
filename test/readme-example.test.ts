/**
 * The README's first code block runs as is: in an empty folder holding only what its install line installs
 * (`@agentloop/core`, compiled as published, and `effect`), with plain `node` (Node strips the types), it
 * prints the run's events and the answer. examples/readme-example.ts is the same block, type-checked strict. The
 * peer table matches the packages' manifests.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, expect, it } from "vitest"
import { installCore, userEnv } from "./support/compiledCore.js"

const root = join(import.meta.dirname, "..")
const readme = readFileSync(join(root, "README.md"), "utf8")
const firstBlock = /```ts\n([\s\S]*?)```/.exec(readme)?.[1]
const folder = mkdtempSync(join(tmpdir(), "agentloop-readme-"))
afterAll(() => rmSync(folder, { recursive: true, force: true }))

it("the README's first code block is examples/readme-example.ts, and its install line installs what it imports", () => {
  expect(/```(\w*)\n/.exec(readme)?.[1]).toBe("ts")
  expect(firstBlock).toBe(readFileSync(join(root, "examples", "readme-example.ts"), "utf8"))
  expect(readme).toContain("`npm install @agentloop/core effect`")
  const imported = [...firstBlock!.matchAll(/from "([^"]+)"/g)].map((match) => match[1]!.split("/").slice(0, match[1]!.startsWith("@") ? 2 : 1).join("/"))
  expect([...new Set(imported)].sort()).toEqual(["@agentloop/core", "effect"])
})

it("run with node in an empty folder, it prints the run's events and the answer", async () => {
  installCore(folder)
  symlinkSync(realpathSync(join(root, "node_modules", "effect")), join(folder, "node_modules", "effect"))
  writeFileSync(join(folder, "package.json"), JSON.stringify({ dependencies: { "@agentloop/core": "*", effect: "*" } }))
  writeFileSync(join(folder, "app.ts"), firstBlock!)
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ["app.ts"], { cwd: folder, encoding: "utf8", timeout: 60_000, env: userEnv() }, (error, out, stderr) =>
      error === null ? resolve(out) : reject(new Error(`${error.message}\n${stderr}`))
    )
  )
  const lines = stdout.trimEnd().split("\n")
  expect(lines[0]).toMatch(/^run run_[\w-]+ started \(agent release-bot\)$/)
  expect(lines).toContain('  call deploy({"version":"4.2.0"})')
  expect(lines).toContain("run suspended: 1 approval(s) pending")
  expect(lines).toContain("  approved deploy by me")
  expect(lines).toContain("  result deploy: deployed 4.2.0")
  expect(lines).toContain("run completed (end_turn) after 2 steps: Done: deployed 4.2.0.")
  expect(lines.at(-1)).toBe("answer: Done: deployed 4.2.0.")
}, 120_000)

it("the peer table lists each package's peer dependencies, with their ranges", () => {
  const packagesDir = join(root, "packages")
  for (const dir of readdirSync(packagesDir)) {
    const manifest = JSON.parse(readFileSync(join(packagesDir, dir, "package.json"), "utf8"))
    if (manifest.private === true) continue
    const row = readme.split("\n").find((line) => line.startsWith(`| \`${manifest.name}\` |`))
    expect(row, `a peer table row for ${manifest.name}`).toBeDefined()
    const cells = row!.split(" | ")
    const named = (cell: string) => Object.fromEntries([...cell.matchAll(/`([@\w/.-]+)` (\^[\d.]+)/g)].map((m) => [m[1]!, m[2]!]))
    const peers: Record<string, string> = manifest.peerDependencies ?? {}
    const optional = (name: string) => manifest.peerDependenciesMeta?.[name]?.optional === true
    // Required peers in the second column, exactly; optional peers named, with their range, in the third.
    expect(named(cells[1]!), manifest.name).toEqual(Object.fromEntries(Object.entries(peers).filter(([name]) => !optional(name))))
    for (const [name, range] of Object.entries(peers).filter(([name]) => optional(name))) {
      expect(named(cells[2]!)[name], `${manifest.name}: optional peer ${name} in the third column`).toBe(range)
    }
  }
})

it("package READMEs stand alone on the registry: an install line, and links only absolute, into the repository", () => {
  const repository = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).repository.url.replace(/^git\+/, "").replace(/\.git$/, "")
  for (const dir of readdirSync(join(root, "packages"))) {
    const text = readFileSync(join(root, "packages", dir, "README.md"), "utf8")
    expect(text, dir).toMatch(new RegExp(`npm install[^\n]* @agentloop/${dir}\\b`))
    const links = [...text.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]!)
    expect(links.length, dir).toBeGreaterThan(0)
    for (const link of links) expect(link, `${dir}: ${link}`).toMatch(new RegExp(`^${repository}/blob/main/[\\w./-]+(#[\\w-]+)?$`))
    // The linked pages exist.
    for (const link of links) expect(() => readFileSync(join(root, link.slice(`${repository}/blob/main/`.length).split("#")[0]!)), link).not.toThrow()
  }
})
