/**
 * The manifest conventions of docs/releasing.md, checked for every public package under packages/ (a new
 * package is picked up by being there). What the packed result does for a user is checked by
 * scripts/consumer-check.mjs (`pnpm consumer-check`, run by .ci/run); this test only keeps the manifests and
 * build configs in the shape that check relies on, without building anything.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

const root = join(import.meta.dirname, "..")
const rootManifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"))
const packages = readdirSync(join(root, "packages"))
  .filter((dir) => existsSync(join(root, "packages", dir, "package.json")))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(root, "packages", dir, "package.json"), "utf8")) }))
  .filter(({ pkg }) => pkg.private !== true)

const isEffect = (name: string) => name === "effect" || name.startsWith("@effect/")
/** tsconfig files are JSON with comments. */
const readJsonc = (file: string) => JSON.parse(readFileSync(file, "utf8").replace(/^\s*\/\/.*$/gm, ""))

describe("package manifests (docs/releasing.md)", () => {
  it("there are packages to check", () => {
    expect(packages.length).toBeGreaterThan(0)
  })

  for (const { dir, pkg } of packages) {
    describe(pkg.name, () => {
      it("is an ESM package named @agentloop/<dir> with the registry fields", () => {
        expect(pkg.name).toBe(`@agentloop/${dir}`)
        expect(pkg.version).toMatch(/^\d+\.\d+\.\d+(-[\w.]+)?$/)
        expect(pkg.type).toBe("module")
        expect(pkg.license).toBe("MIT")
        expect(typeof pkg.description).toBe("string")
        expect(pkg.keywords).toEqual(expect.arrayContaining(["agentloop", "effect"]))
        expect(pkg.repository).toMatchObject({ type: "git", directory: `packages/${dir}` })
        expect(pkg.repository.url).toBe(rootManifest.repository.url)
        expect(pkg.engines).toEqual(rootManifest.engines)
        expect(pkg.sideEffects).toBe(false)
        expect(pkg.publishConfig).toEqual({ access: "public" })
        expect(existsSync(join(root, "packages", dir, "CHANGELOG.md"))).toBe(true)
        expect(existsSync(join(root, "packages", dir, "LICENSE"))).toBe(true)
      })

      it("exports dist/ to users and src/ to the workspace (the @agentloop/source condition, listed first)", () => {
        expect(pkg.exports).toEqual({
          ".": { "@agentloop/source": "./src/index.ts", types: "./dist/index.d.ts", import: "./dist/index.js" },
          "./*": { "@agentloop/source": "./src/*.ts", types: "./dist/*.d.ts", import: "./dist/*.js" },
          "./package.json": "./package.json"
        })
        expect(Object.keys(pkg.exports["."])[0]).toBe("@agentloop/source")
        expect(pkg.main).toBe("./dist/index.js")
        expect(pkg.types).toBe("./dist/index.d.ts")
        expect(pkg.files).toEqual(["dist", "!dist/*.tsbuildinfo", "src", "CHANGELOG.md"])
      })

      it("takes effect and @effect/* as peers (also pinned as devDependencies), and never a workspace range for them", () => {
        for (const name of Object.keys(pkg.dependencies ?? {})) expect(isEffect(name), `${name} must be a peer`).toBe(false)
        const peers = Object.keys(pkg.peerDependencies ?? {})
        expect(peers).toContain("effect")
        for (const name of peers) {
          expect(isEffect(name), `${name}: only effect and @effect/* are peers`).toBe(true)
          expect(pkg.devDependencies?.[name], `${name} pinned in devDependencies`).toMatch(/^\d+\.\d+\.\d+$/)
          const pinned = pkg.devDependencies[name] as string
          const range = pkg.peerDependencies[name] as string
          expect(range).toBe(name === "effect" ? "^4.1.5" : `^${pinned}`)
        }
      })

      it("depends on sibling packages with workspace:^ and references their build configs", () => {
        const siblings = Object.entries(pkg.dependencies ?? {}).filter(([name]) => name.startsWith("@agentloop/"))
        for (const [name, range] of siblings) expect(range, name).toBe("workspace:^")
        const tsconfig = readJsonc(join(root, "packages", dir, "tsconfig.build.json"))
        expect(tsconfig).toMatchObject({
          extends: "../../tsconfig.build.base.json",
          compilerOptions: { rootDir: "src", outDir: "dist", tsBuildInfoFile: "dist/tsconfig.build.tsbuildinfo" },
          include: ["src"]
        })
        const referenced = (tsconfig.references ?? []).map((r: { path: string }) => r.path).sort()
        const expected = siblings.map(([name]) => `../${name.slice("@agentloop/".length)}/tsconfig.build.json`).sort()
        expect(referenced).toEqual(expected)
      })
    })
  }
})
