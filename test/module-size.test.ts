/**
 * The repository's module size rule, for every package: no source module under packages/<name>/src is over
 * 500 lines. A longer one holds more than one concept: split it so each guarantee has one home. A new
 * package is picked up by being there. (packages/core/test/Structure.test.ts checks core's layering too.)
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { describe, expect, it } from "vitest"

const root = join(import.meta.dirname, "..")
const MAX_LINES = 500

/**
 * Modules allowed past the limit, each with the reason. Empty, and it should stay so: add one only for a real
 * reason (e.g. generated code), never to get a change in.
 */
const exceptions: ReadonlyMap<string, string> = new Map()

const sourceDirs = readdirSync(join(root, "packages"))
  .map((name) => join(root, "packages", name, "src"))
  .filter((dir) => existsSync(dir))

const modulesUnder = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? modulesUnder(path) : /\.(c|m)?tsx?$/.test(name) ? [path] : []
  })

/** Lines as `wc -l` counts them: a final newline does not start another line. */
const linesOf = (path: string): number => {
  const text = readFileSync(path, "utf8")
  return text.split("\n").length - (text.endsWith("\n") ? 1 : 0)
}

describe("the shape of every package", () => {
  it("finds the source modules of every package", () => {
    expect(sourceDirs.length).toBeGreaterThan(5)
    for (const dir of sourceDirs) expect(modulesUnder(dir).length, relative(root, dir)).toBeGreaterThan(0)
  })

  it(`has no module under packages/*/src over ${MAX_LINES} lines (a longer one holds more than one concept: split it)`, () => {
    const long = sourceDirs
      .flatMap(modulesUnder)
      .map((path) => [relative(root, path), linesOf(path)] as const)
      .filter(([module, lines]) => lines > MAX_LINES && !exceptions.has(module))
    expect(long).toEqual([])
  })

  it("lists as exceptions only modules that exist and still need it", () => {
    const stale = [...exceptions.keys()].filter((module) => !existsSync(join(root, module)) || linesOf(join(root, module)) <= MAX_LINES)
    expect(stale).toEqual([])
  })
})
