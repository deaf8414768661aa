/**
 * One rule for every public layer constructor (docs/core.md, "Layers: values, constructors, both"), checked for
 * every `layer*` export of every public module of every package (a new module or a new export is picked up by
 * being there):
 *
 * - no arguments: a layer value (`RunStore.layerMemory`);
 * - every argument optional: a layer that is also its constructor (`Approval.layerSuspend` and
 *   `Approval.layerSuspend({ expiresIn: "1 day" })`);
 * - a required argument: a function returning a layer (`ChatModel.layer(options)`).
 *
 * The types say which case an export is in (TypeScript's checker, so `(options?: X) => Layer` fails here); the
 * modules, imported, say that the values really are layers at run time.
 */
import { existsSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { Layer } from "effect"
import ts from "typescript"
import { beforeAll, describe, expect, it } from "vitest"

const root = join(import.meta.dirname, "..")
const modules = readdirSync(join(root, "packages"))
  .filter((dir) => existsSync(join(root, "packages", dir, "package.json")) && existsSync(join(root, "packages", dir, "src")))
  .flatMap((dir) =>
    readdirSync(join(root, "packages", dir, "src"))
      .filter((file) => file.endsWith(".ts") && file !== "index.ts" && !file.endsWith(".d.ts"))
      .map((file) => ({ name: `${dir}/${file.slice(0, -3)}`, path: join(root, "packages", dir, "src", file) }))
  )

type Kind = "value" | "callable" | "function"
interface Found {
  readonly module: string
  readonly name: string
  readonly kind: Kind | "not a layer"
}

const LayerTypeId = "~effect/Layer"

/** Every `layer*` value export of every module, classified by its type. */
const classify = (): ReadonlyArray<Found> => {
  const config = ts.parseJsonConfigFileContent(ts.readConfigFile(join(root, "tsconfig.base.json"), ts.sys.readFile).config, ts.sys, root)
  const program = ts.createProgram(modules.map((m) => m.path), { ...config.options, noEmit: true })
  const checker = program.getTypeChecker()
  const isLayer = (type: ts.Type) => type.getProperty(LayerTypeId) !== undefined
  const found: Array<Found> = []
  for (const { name: module, path } of modules) {
    const source = program.getSourceFile(path)!
    for (let symbol of checker.getExportsOfModule(checker.getSymbolAtLocation(source)!)) {
      if (!/^layer/.test(symbol.name)) continue
      const name = symbol.name
      if (symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol)
      if (!(symbol.flags & ts.SymbolFlags.Value)) continue
      const type = checker.getTypeOfSymbolAtLocation(symbol, source)
      const signatures = type.getCallSignatures()
      const returnsLayers = signatures.every((signature) => isLayer(checker.getReturnTypeOfSignature(signature)))
      const required = Math.min(
        ...signatures.map((signature) =>
          signature.parameters.filter((parameter) => {
            const declaration = parameter.valueDeclaration
            return declaration !== undefined && ts.isParameter(declaration) && !checker.isOptionalParameter(declaration) && declaration.dotDotDotToken === undefined
          }).length
        )
      )
      const kind: Found["kind"] = signatures.length === 0
        ? (isLayer(type) ? "value" : "not a layer")
        : !returnsLayers
        ? "not a layer"
        : required === 0
        ? (isLayer(type) ? "callable" : "not a layer")
        : "function"
      found.push({ module, name, kind })
    }
  }
  return found
}

describe("layer constructors follow one rule", () => {
  let found: ReadonlyArray<Found> = []
  beforeAll(() => {
    found = classify()
  }, 120_000)

  it("every layer* export is a layer value, a callable layer (all arguments optional) or a function (a required argument)", () => {
    expect(found.length).toBeGreaterThan(40)
    // A function whose arguments are all optional but that is not itself a layer shows here as "not a layer".
    expect(found.filter((f) => f.kind === "not a layer").map((f) => `${f.module}.${f.name}`)).toEqual([])
  })

  it("the constructors with optional options are callable layers, in every package", () => {
    const callable = found.filter((f) => f.kind === "callable").map((f) => `${f.module}.${f.name}`)
    expect(callable).toEqual(expect.arrayContaining([
      "core/Approval.layerAutoApprove",
      "core/Approval.layerDenyAll",
      "core/Approval.layerSuspend",
      "core/Tracing.layer",
      "core/EffectAi.layer",
      "core/EffectAi.layerEffectAi",
      "heroku-platform/Webhooks.layerReplayMemory",
      "heroku-platform/AuditLog.layer",
      "heroku-platform/AuditLog.layerSql",
      "server/Guard.layer",
      "server/Server.layer"
    ]))
  })

  it("at run time, values and callable layers are layers (called with no arguments too), functions are functions", async () => {
    for (const { name: module, path } of modules) {
      const exports: Record<string, unknown> = await import(path)
      const expected = found.filter((f) => f.module === module)
      // The checker and the module agree on which layer* values there are.
      expect(Object.keys(exports).filter((key) => /^layer/.test(key)).sort(), module).toEqual(expected.map((f) => f.name).sort())
      for (const { name, kind } of expected) {
        const value = exports[name]
        const where = `${module}.${name}`
        if (kind === "value") expect(Layer.isLayer(value), where).toBe(true)
        if (kind === "function") expect(typeof value, where).toBe("function")
        if (kind === "callable") {
          expect(Layer.isLayer(value), where).toBe(true)
          expect(typeof value, where).toBe("function")
          expect(Layer.isLayer((value as () => unknown)()), `${where}()`).toBe(true)
        }
      }
    }
  }, 120_000)
})
