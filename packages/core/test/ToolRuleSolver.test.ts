/**
 * The pure solver, against Letta's own solver test list (letta.md section 6.1; numbers in the test names).
 * Where we deliberately differ from Letta, the test says so.
 */
import { Tool, ToolRule, ToolRuleSolver as Solver } from "@agentloop/core"
import { Result, Schema } from "effect"
import { describe, expect, it } from "vitest"

const T = ["start", "prep", "next", "helper", "final", "end", "save", "required_1", "required_2", "gated"]

const after = (...steps: ReadonlyArray<string | [string, string]>): Solver.State =>
  steps.reduce<Solver.State>(
    (state, step) => (typeof step === "string" ? Solver.record(state, step, "") : Solver.record(state, step[0], step[1])),
    Solver.initialState
  )

const allowed = (rules: ReadonlyArray<ToolRule.ToolRule>, state: Solver.State, available: ReadonlyArray<string> = T) =>
  Solver.plan(Solver.compile(rules), available, state).allowed

const force = (rules: ReadonlyArray<ToolRule.ToolRule>, state: Solver.State) =>
  Solver.plan(Solver.compile(rules), T, state).forceToolCall

describe("allowed tools", () => {
  it("1: init rules allow only the init tools, in toolkit order", () => {
    const rules = [ToolRule.init("start"), ToolRule.init("prep")]
    expect(allowed(rules, Solver.initialState)).toEqual(["start", "prep"])
  })

  it("1 (differs from Letta): init tools are intersected with the available tools", () => {
    expect(allowed([ToolRule.init("start"), ToolRule.init("prep")], Solver.initialState, ["prep"])).toEqual(["prep"])
  })

  it("2: a child rule narrows to its children right after its tool", () => {
    const rules = [ToolRule.init("start"), ToolRule.child("start", ["next", "helper"])]
    expect(allowed(rules, after("start"))).toEqual(["next", "helper"])
  })

  it("3: terminal tools stop, others continue", () => {
    const compiled = Solver.compile([ToolRule.terminal("end")])
    expect(Solver.continuation(compiled, "end")).toBe("stop")
    expect(Solver.continuation(compiled, "start")).toBe("continue")
  })

  it("4: only tools with a requires-approval rule are gated", () => {
    const compiled = Solver.compile([ToolRule.requiresApproval("gated")])
    expect(compiled.requiresApproval.has("gated")).toBe(true)
    expect(compiled.requiresApproval.has("start")).toBe(false)
  })

  it("5: no valid tool gives an empty set and tool choice none (Letta raises)", () => {
    const plan = Solver.plan(Solver.compile([ToolRule.init("start")]), [], after("unrecognized"))
    expect(plan.allowed).toEqual([])
    expect(plan.toolChoice).toBe("none")
  })

  it("6: a child chain walks start -> next -> final, and final is terminal", () => {
    const rules = [
      ToolRule.init("start"),
      ToolRule.child("start", ["next"]),
      ToolRule.child("next", ["final"]),
      ToolRule.terminal("final")
    ]
    expect(allowed(rules, Solver.initialState)).toEqual(["start"])
    expect(allowed(rules, after("start"))).toEqual(["next"])
    expect(allowed(rules, after("start", "next"))).toEqual(["final"])
    expect(Solver.continuation(Solver.compile(rules), "final")).toBe("stop")
  })

  it("7: a conditional rule picks the next tool from the output", () => {
    const rules = [
      ToolRule.init("start"),
      ToolRule.conditional("start", { childOutputMapping: { true: "end", false: "start" } }),
      ToolRule.terminal("end")
    ]
    expect(allowed(rules, Solver.initialState)).toEqual(["start"])
    expect(allowed(rules, after(["start", "true"]))).toEqual(["end"])
    expect(allowed(rules, after(["start", "false"]))).toEqual(["start"])
  })

  it("7: conditional true/false keys match case-insensitively; other keys exactly", () => {
    const rules = [ToolRule.conditional("start", { childOutputMapping: { true: "end", Yes: "next" } })]
    expect(allowed(rules, after(["start", "True"]))).toEqual(["end"])
    expect(allowed(rules, after(["start", "Yes"]))).toEqual(["next"])
    expect(allowed(rules, after(["start", "yes"]))).toEqual(T) // no match, no default: unconstrained
  })

  it("conditional without a match: default child, else unconstrained, else nothing when strict", () => {
    const mapping = { childOutputMapping: { a: "next" } }
    expect(allowed([ToolRule.conditional("start", { ...mapping, defaultChild: "helper" })], after(["start", "z"]))).toEqual(["helper"])
    expect(allowed([ToolRule.conditional("start", mapping)], after(["start", "z"]))).toEqual(T)
    expect(allowed([ToolRule.conditional("start", { ...mapping, requireOutputMapping: true })], after(["start", "z"]))).toEqual([])
  })

  it("10: max count removes the tool once reached", () => {
    const rules = [ToolRule.init("start"), ToolRule.maxCountPerStep("start", 2)]
    expect(allowed(rules, Solver.initialState)).toEqual(["start"])
    expect(allowed(rules, after("start"))).toContain("start")
    expect(allowed(rules, after("start", "start"))).not.toContain("start")
  })

  it("10 (differs from Letta's v3 loop): one call counts once, so limit 2 allows a second call", () => {
    expect(allowed([ToolRule.maxCountPerStep("start", 2)], after("start"))).toContain("start")
  })

  it("11: max count allows usage up to the limit", () => {
    const rules = [ToolRule.maxCountPerStep("start", 3)]
    expect(allowed(rules, after())).toContain("start")
    expect(allowed(rules, after("start"))).toContain("start")
    expect(allowed(rules, after("start", "start"))).toContain("start")
    expect(allowed(rules, after("start", "start", "start"))).not.toContain("start")
  })

  it("12: max count does not affect other tools", () => {
    const rules = [ToolRule.maxCountPerStep("start", 2), ToolRule.child("next", ["helper"])]
    expect(allowed(rules, after("start", "start"), ["start", "next", "helper"])).toEqual(["next", "helper"])
  })

  it("13: a fresh history (a new run) resets max count", () => {
    const rules = [ToolRule.init("start"), ToolRule.maxCountPerStep("start", 1)]
    expect(allowed(rules, after("start"))).toEqual(T.filter((t) => t !== "start"))
    expect(allowed(rules, Solver.initialState)).toEqual(["start"])
  })

  it("parent: children only right after the parent, and only children then", () => {
    const rules = [ToolRule.parent("prep", ["helper"])]
    expect(allowed(rules, Solver.initialState)).not.toContain("helper")
    expect(allowed(rules, after("start"))).not.toContain("helper")
    expect(allowed(rules, after("prep"))).toEqual(["helper"])
    expect(allowed(rules, after("prep", "helper"))).not.toContain("helper")
  })

  it("active rules intersect: child and conditional on the same tool must both agree", () => {
    const rules = [
      ToolRule.child("start", ["next", "helper"]),
      ToolRule.conditional("start", { childOutputMapping: { go: "next" }, defaultChild: "final" })
    ]
    expect(allowed(rules, after(["start", "go"]))).toEqual(["next"])
    expect(allowed(rules, after(["start", "other"]))).toEqual([]) // final is not a child: nothing satisfies both
  })
})

describe("required before exit (25-29)", () => {
  const compiled = (rules: ReadonlyArray<ToolRule.ToolRule>) => Solver.compile(rules)
  it("25: no rules means nothing is required", () => {
    expect(Solver.uncalledRequired(compiled([]), T, Solver.initialState)).toEqual([])
  })
  it("26: a single required tool is uncalled until called", () => {
    const c = compiled([ToolRule.requiredBeforeExit("save")])
    expect(Solver.uncalledRequired(c, T, Solver.initialState)).toEqual(["save"])
    expect(Solver.uncalledRequired(c, T, after("save"))).toEqual([])
  })
  it("27: two required tools are satisfied one by one", () => {
    const c = compiled([ToolRule.requiredBeforeExit("required_1"), ToolRule.requiredBeforeExit("required_2")])
    expect(Solver.uncalledRequired(c, T, Solver.initialState)).toEqual(["required_1", "required_2"])
    expect(Solver.uncalledRequired(c, T, after("required_1"))).toEqual(["required_2"])
    expect(Solver.uncalledRequired(c, T, after("required_1", "required_2"))).toEqual([])
  })
  it("28: calling other tools does not satisfy it", () => {
    const c = compiled([ToolRule.requiredBeforeExit("save")])
    expect(Solver.uncalledRequired(c, T, after("start", "helper"))).toEqual(["save"])
  })
  it("29: a new run's history is uncalled again", () => {
    const c = compiled([ToolRule.requiredBeforeExit("save")])
    expect(Solver.uncalledRequired(c, T, Solver.initialState)).toEqual(["save"])
  })
  it("the re-prompt names the tools", () => {
    expect(Solver.requiredBeforeExitPrompt(["save"])).toContain("ToolRuleViolated: You must call save at least once to exit the loop.")
  })
})

describe("forced tool calls (30-44)", () => {
  it("30: no rules: not forced", () => expect(force([], Solver.initialState)).toBe(false))
  it("31: init with no history: forced", () => expect(force([ToolRule.init("start")], Solver.initialState)).toBe(true))
  it("32: init after the first call: not forced", () => expect(force([ToolRule.init("start")], after("start"))).toBe(false))
  it("33: child right after its tool: forced", () => expect(force([ToolRule.child("start", ["next"])], after("start"))).toBe(true))
  it("34: child after another tool: not forced", () => expect(force([ToolRule.child("start", ["next"])], after("helper"))).toBe(false))
  it("35: conditional active: forced", () =>
    expect(force([ToolRule.conditional("start", { childOutputMapping: { a: "next" } })], after("start"))).toBe(true))
  it("36: parent active: forced", () => expect(force([ToolRule.parent("prep", ["helper"])], after("prep"))).toBe(true))
  it("37-41: max count, terminal, continue, required-before-exit, requires-approval never force", () => {
    for (const rule of [
      ToolRule.maxCountPerStep("start", 1),
      ToolRule.terminal("start"),
      ToolRule.continue("start"),
      ToolRule.requiredBeforeExit("start"),
      ToolRule.requiresApproval("start")
    ]) {
      expect(force([rule], after("start"))).toBe(false)
    }
  })
  it("42: chain start -> next -> final with an unrelated parent rule", () => {
    const rules = [ToolRule.child("start", ["next"]), ToolRule.child("next", ["final"]), ToolRule.parent("prep", ["helper"])]
    expect(force(rules, after("start"))).toBe(true)
    expect(force(rules, after("start", "next"))).toBe(true)
    expect(force(rules, after("start", "next", "final"))).toBe(false)
  })
  it("43: a new run with an init rule is forced again", () => expect(force([ToolRule.init("start")], Solver.initialState)).toBe(true))
  it("44: mixed rules: forced at start, after start; not after next", () => {
    const rules = [
      ToolRule.init("start"),
      ToolRule.child("start", ["next"]),
      ToolRule.terminal("final"),
      ToolRule.continue("helper"),
      ToolRule.maxCountPerStep("next", 2)
    ]
    expect(force(rules, Solver.initialState)).toBe(true)
    expect(force(rules, after("start"))).toBe(true)
    expect(force(rules, after("start", "next"))).toBe(false)
  })
  it("the forced choice is one function when one tool is allowed, required when several", () => {
    expect(Solver.plan(Solver.compile([ToolRule.init("start")]), T, Solver.initialState).toolChoice).toEqual({ function: "start" })
    expect(Solver.plan(Solver.compile([ToolRule.child("start", ["next", "helper"])]), T, after("start")).toolChoice).toBe("required")
    expect(Solver.plan(Solver.compile([]), T, Solver.initialState).toolChoice).toBe("auto")
  })
})

describe("prefill (45-60)", () => {
  const prefill = (rules: ReadonlyArray<ToolRule.ToolRule>, state: Solver.State, available: ReadonlyArray<string> = T) =>
    Object.fromEntries(Solver.plan(Solver.compile(rules), available, state).prefill)

  it("45-46: init args are prefilled, with provenance Init(<name>)", () => {
    expect(prefill([ToolRule.init("start", { args: { x: 1, y: "s" } })], Solver.initialState)).toEqual({
      start: { args: { x: 1, y: "s" }, source: "Init(start)" }
    })
  })
  it("47: no args, no prefill", () => expect(prefill([ToolRule.init("start")], Solver.initialState)).toEqual({}))
  it("48: init args are gone once the history is not empty", () =>
    expect(prefill([ToolRule.init("start", { args: { x: 1 } })], after("start"))).toEqual({}))
  it("55: two init rules for one tool merge, last write wins per key", () => {
    const rules = [ToolRule.init("start", { args: { x: 1, y: "first" } }), ToolRule.init("start", { args: { y: "second", z: true } })]
    expect(prefill(rules, Solver.initialState)["start"]!.args).toEqual({ x: 1, y: "second", z: true })
  })
  it("56: child args apply only right after the parent tool", () => {
    const rules = [ToolRule.child("start", ["next"], { childArgNodes: [{ name: "next", args: { x: 1 } }] })]
    expect(prefill(rules, Solver.initialState)).toEqual({})
    expect(prefill(rules, after("start"))).toEqual({ next: { args: { x: 1 }, source: "Child(start->next)" } })
  })
  it("57: init then child phases", () => {
    const rules = [
      ToolRule.init("start", { args: { seed: "A" } }),
      ToolRule.child("start", ["next"], { childArgNodes: [{ name: "next", args: { k: 1 } }] })
    ]
    expect(prefill(rules, Solver.initialState)["start"]!.args).toEqual({ seed: "A" })
    expect(prefill(rules, after("start"))["next"]!.args).toEqual({ k: 1 })
  })
  it("58: two child rules for the same pair merge, last write wins", () => {
    const rules = [
      ToolRule.child("start", ["next"], { childArgNodes: [{ name: "next", args: { x: 1, y: "a" } }] }),
      ToolRule.child("start", ["next"], { childArgNodes: [{ name: "next", args: { y: "b", z: 3 } }] })
    ]
    expect(prefill(rules, after("start"))["next"]!.args).toEqual({ x: 1, y: "b", z: 3 })
  })
  it("59: child args only for children that are allowed", () => {
    const rules = [
      ToolRule.child("start", ["next", "helper"], { childArgNodes: [{ name: "next", args: { x: 1 } }, { name: "helper", args: { y: 2 } }] })
    ]
    expect(Object.keys(prefill(rules, after("start"), ["start", "next"]))).toEqual(["next"])
  })
  it("60: child args intersected with a strict conditional", () => {
    const rules = [
      ToolRule.child("start", ["next", "helper"], { childArgNodes: [{ name: "next", args: { x: 10 } }, { name: "helper", args: { y: 20 } }] }),
      ToolRule.conditional("start", { childOutputMapping: { true: "helper", false: "next" }, requireOutputMapping: true })
    ]
    expect(allowed(rules, after(["start", "true"]))).toEqual(["helper"])
    expect(prefill(rules, after(["start", "true"]))).toEqual({ helper: { args: { y: 20 }, source: "Child(start->helper)" } })
  })
})

describe("violations", () => {
  it("name the valid tools and the rules that may have been violated", () => {
    const compiled = Solver.compile([ToolRule.child("start", ["next"])])
    const state = after("start")
    const plan = Solver.plan(compiled, T, state)
    const message = Solver.violation(compiled, plan, "helper", state)
    expect(message).toContain("[ToolConstraintError] Cannot call helper, valid tools include: [next].")
    expect(message).toContain("After using start, you must use one of these tools: next")
    expect(Solver.violation(compiled, plan, "next", state)).toBeUndefined()
  })
})

describe("rule equality and dedupe (14-24)", () => {
  it("14/23: children and mappings compare order-insensitively; different kinds never equal", () => {
    expect(ToolRule.equals(ToolRule.child("a", ["x", "y"]), ToolRule.child("a", ["y", "x"]))).toBe(true)
    expect(ToolRule.equals(ToolRule.child("a", ["x"]), ToolRule.parent("a", ["x"]))).toBe(false)
    expect(ToolRule.equals(ToolRule.init("a"), ToolRule.terminal("a"))).toBe(false)
    expect(ToolRule.equals(ToolRule.continue("a"), ToolRule.requiredBeforeExit("a"))).toBe(false)
    expect(
      ToolRule.equals(
        ToolRule.conditional("a", { childOutputMapping: { x: "b", y: "c" } }),
        ToolRule.conditional("a", { childOutputMapping: { y: "c", x: "b" } })
      )
    ).toBe(true)
    expect(
      ToolRule.equals(
        ToolRule.conditional("a", { childOutputMapping: { x: "b" }, defaultChild: "c" }),
        ToolRule.conditional("a", { childOutputMapping: { x: "b" } })
      )
    ).toBe(false)
    expect(ToolRule.equals(ToolRule.maxCountPerStep("a", 1), ToolRule.maxCountPerStep("a", 2))).toBe(false)
  })
  it("24: dedupe keeps the first of equal rules, in order", () => {
    const rules = [
      ToolRule.continue("a"),
      ToolRule.continue("a"),
      ToolRule.requiredBeforeExit("b"),
      ToolRule.requiredBeforeExit("b"),
      ToolRule.terminal("c"),
      ToolRule.terminal("c")
    ]
    expect(ToolRule.dedupe(rules).map((r) => r._tag)).toEqual(["Continue", "RequiredBeforeExit", "Terminal"])
  })
  it("rules round-trip through JSON", () => {
    const rules = [
      ToolRule.init("a", { args: { x: 1 } }),
      ToolRule.child("a", ["b"], { childArgNodes: [{ name: "b", args: { y: 2 } }] }),
      ToolRule.conditional("b", { childOutputMapping: { ok: "a" }, defaultChild: "b", requireOutputMapping: false }),
      ToolRule.maxCountPerStep("a", 3)
    ]
    const codec = Schema.fromJsonString(Schema.Array(ToolRule.ToolRule))
    expect(Schema.decodeSync(codec)(Schema.encodeSync(codec)(rules))).toEqual(rules)
  })
})

describe("validation against the toolkit", () => {
  const tools = new Map<string, Tool.Any>(
    [
      Tool.make("start", { description: "s", parameters: { x: Schema.Int, y: Schema.optional(Schema.String) } }),
      Tool.make("next", { description: "n" }),
      Tool.make("final", { description: "f" })
    ].map((t) => [t.name, t as Tool.Any])
  )
  const problems = (rules: ReadonlyArray<ToolRule.ToolRule>) =>
    Result.match(ToolRule.validate(rules, tools), { onFailure: (e) => e.problems.map((p) => p.reason), onSuccess: () => [] })

  it("accepts a valid set, including cycles (9: no graph validation needed for cycles)", () => {
    expect(problems([ToolRule.child("start", ["next"]), ToolRule.child("next", ["start"]), ToolRule.terminal("final")])).toEqual([])
  })
  it("rejects unknown tools, children and init tools not in the toolkit", () => {
    expect(problems([ToolRule.init("ghost")])[0]).toContain('tool "ghost" is not in the toolkit')
    expect(problems([ToolRule.child("start", ["ghost"])])[0]).toContain('child "ghost" is not in the toolkit')
    expect(problems([ToolRule.conditional("start", { childOutputMapping: { a: "next" }, defaultChild: "ghost" })])[0]).toContain("defaultChild")
  })
  it("8: rejects an empty conditional mapping", () => {
    expect(problems([ToolRule.conditional("start", { childOutputMapping: {} })])[0]).toContain("at least one entry")
  })
  it("63: rejects child_arg_nodes that name a non-child", () => {
    expect(problems([ToolRule.child("start", ["next"], { childArgNodes: [{ name: "final" }] })])[0]).toContain("not in children")
  })
  it("50-54, 62: rejects prefill with unknown keys or values of the wrong type", () => {
    expect(problems([ToolRule.init("start", { args: { z: 1 } })])[0]).toContain("Unknown argument 'z'")
    const typeProblem = problems([ToolRule.init("start", { args: { x: "not a number" } })])[0]!
    expect(typeProblem).toContain("Invalid value for 'x'")
    expect(typeProblem).not.toContain("Unknown argument")
    expect(problems([ToolRule.init("start", { args: { x: 1, y: "ok" } })])).toEqual([])
  })
  it("rejects a tool that is both terminal and continue, and max count below 1", () => {
    expect(problems([ToolRule.terminal("final"), ToolRule.continue("final")])[0]).toContain("cannot both end and continue")
    expect(problems([ToolRule.maxCountPerStep("start", 0)])[0]).toContain(">= 1")
  })
  it("the error message names every problem with its rule index", () => {
    const result = ToolRule.validate([ToolRule.init("ghost"), ToolRule.terminal("phantom")], tools)
    expect(Result.isFailure(result) && result.failure.message).toMatch(/rule 0 \(Init ghost\).*rule 1 \(Terminal phantom\)/)
  })
})
