/**
 * The shape of `@agentloop/core`, checked: no import cycles (type-only imports included), no module over 500
 * lines, no import of a module of a higher layer, the step machine's driver takes only edges of its table, and
 * docs/core.md prints that table as the code has it.
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, normalize, relative } from "node:path"
import ts from "typescript"
import { describe, expect, it } from "vitest"
import * as Machine from "../src/internal/loop/machine.js"

const src = join(import.meta.dirname, "..", "src")
const docs = join(import.meta.dirname, "..", "..", "..", "docs", "core.md")

const modules = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? modules(path) : name.endsWith(".ts") ? [relative(src, path)] : []
  })

/** Every relative import and re-export of a module, type-only ones included. */
const importsOf = (module: string): Array<string> => {
  const file = ts.createSourceFile(module, readFileSync(join(src, module), "utf8"), ts.ScriptTarget.Latest)
  return file.statements.flatMap((statement) =>
    (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
    statement.moduleSpecifier !== undefined &&
    ts.isStringLiteral(statement.moduleSpecifier) &&
    statement.moduleSpecifier.text.startsWith(".")
      ? [normalize(join(dirname(module), statement.moduleSpecifier.text.replace(/\.js$/, ".ts")))]
      : []
  )
}

const graph = new Map(modules(src).map((module) => [module, importsOf(module)]))

/**
 * The layers, lowest first: a module may import its own layer and the ones below, never one above. The loop's
 * implementation sits above everything it uses, and only the public API sits above it.
 */
const layers: ReadonlyArray<readonly [string, ReadonlyArray<string | RegExp>]> = [
  ["foundations", ["Message.ts", "Redaction.ts", "internal/canonicalJson.ts", "internal/redacted.ts", "internal/callKey.ts", "internal/effectMajor.ts", "internal/layerConstructor.ts"]],
  [
    "data, services and pure logic",
    [
      "Tool.ts",
      "Toolkit.ts",
      "DynamicTool.ts",
      "ToolRule.ts",
      "ToolRuleSolver.ts",
      "ToolRuleAnalysis.ts",
      "Approval.ts",
      "internal/nested.ts",
      "RunState.ts",
      "Output.ts",
      "internal/response.ts",
      "internal/stepCollector.ts",
      "internal/runStep.ts",
      "LanguageModel.ts",
      "AgentEvent.ts",
      "internal/eventBuffer.ts",
      "RunEvents.ts",
      "internal/contextBlocks.ts",
      "ContextPolicy.ts",
      "Tracing.ts",
      "EffectAi.ts",
      /^internal\/effectAi\//,
      "StepRunner.ts",
      "internal/finalAnswer.ts"
    ]
  ],
  ["stored runs: integrity, stores, claims", ["RunIntegrity.ts", "RunStore.ts", "RunClaim.ts"]],
  ["agent definitions", ["internal/agent.ts", "Handoff.ts", "internal/toolChoice.ts"]],
  ["the loop's implementation", [/^internal\/loop\//]],
  ["the public API over the loop", ["Loop.ts", "SubAgent.ts", "AgentBackend.ts", "internal/run.ts", "Agent.ts", "index.ts"]]
]

const layerOf = (module: string): number =>
  layers.findIndex(([, members]) => members.some((member) => (typeof member === "string" ? member === module : member.test(module))))

describe("the shape of @agentloop/core", () => {
  it("has no import cycles, type-only imports included", () => {
    const cycles: Array<string> = []
    const state = new Map<string, "open" | "done">()
    const stack: Array<string> = []
    const visit = (module: string) => {
      state.set(module, "open")
      stack.push(module)
      for (const dependency of graph.get(module) ?? []) {
        if (state.get(dependency) === "open") cycles.push([...stack.slice(stack.indexOf(dependency)), dependency].join(" -> "))
        else if (!state.has(dependency)) visit(dependency)
      }
      stack.pop()
      state.set(module, "done")
    }
    for (const module of graph.keys()) if (!state.has(module)) visit(module)
    expect(cycles).toEqual([])
  })

  it("has no module over 500 lines (a longer one holds more than one concept: split it)", () => {
    const long = [...graph.keys()]
      .map((module) => [module, readFileSync(join(src, module), "utf8").split("\n").length] as const)
      .filter(([, lines]) => lines > 500)
    expect(long).toEqual([])
  })

  it("imports nothing from a higher layer (every module has a layer)", () => {
    expect([...graph.keys()].filter((module) => layerOf(module) < 0)).toEqual([])
    const upward = [...graph].flatMap(([module, dependencies]) =>
      dependencies
        .filter((dependency) => layerOf(dependency) > layerOf(module))
        .map((dependency) => `${module} (${layers[layerOf(module)]![0]}) imports ${dependency} (${layers[layerOf(dependency)]![0]})`)
    )
    expect(upward).toEqual([])
  })
})

describe("the step machine", () => {
  it("its table is whole: terminal states have no edges, every other state is reached by one, every edge is described", () => {
    const states = Object.keys(Machine.transitions) as Array<Machine.State>
    const terminal = ["Completed", "Stopped", "Suspended", "Failed"]
    for (const state of terminal) expect(Object.keys(Machine.transitions[state as Machine.State])).toEqual([])
    const reached = new Set(Machine.edges().map((edge) => edge.to))
    expect(states.filter((state) => state !== "Start" && !reached.has(state))).toEqual([])
    expect(Machine.edges().filter((edge) => !states.includes(edge.to) || edge.when === undefined || edge.when.length === 0)).toEqual([])
    expect(Object.keys(Machine.states).sort()).toEqual([...states].sort())
  })

  it("the driver takes only edges of the table, each into the state it leads to (`to.<State>(on.<From>.<Event>, ...)`)", () => {
    const driver = readFileSync(join(src, "internal", "loop", "driver.ts"), "utf8")
    const taken = [...driver.matchAll(/\bto\.(\w+)\(\s*(on\.\w+\.\w+)/g)].map((match) => `${match[2]} -> ${match[1]}`)
    expect(taken.length).toBeGreaterThan(20)
    // No other way into a state: every `to.<State>(` names an edge.
    expect([...driver.matchAll(/\bto\.\w+\(/g)].length).toBe(taken.length)
    const edges = new Set(Machine.edges().map((edge) => `on.${edge.from}.${edge.event} -> ${edge.to}`))
    expect(taken.filter((edge) => !edges.has(edge))).toEqual([])
    // ...and every edge of the table is taken somewhere.
    expect([...edges].filter((edge) => !taken.includes(edge))).toEqual([])
  })

  it("docs/core.md prints the table as the code has it (regenerate: node --import tsx scripts/core-doc.ts)", () => {
    const text = readFileSync(docs, "utf8")
    const block = /<!-- transitions:begin -->\n([\s\S]*?)\n<!-- transitions:end -->/.exec(text)
    expect(block?.[1]).toBe(Machine.markdownTable())
  })
})
