/**
 * Rule-set analysis and the solver's treatment of failed calls and init/parent rules: pure, no I/O.
 */
import { ToolRule, ToolRuleAnalysis as Analysis, ToolRuleSolver as Solver } from "@agentloop/core"
import { describe, expect, it } from "vitest"

const T = ["a", "b", "c", "p", "done"]

const problems = (rules: ReadonlyArray<ToolRule.ToolRule>, available: ReadonlyArray<string> = T) =>
  Analysis.analyze(rules, Solver.compile(rules), available).map((p) => `${p.index}:${p.rule}:${p.tool}`)

describe("the solver never offers a tool whose parent rule is unmet", () => {
  it("init included: an init tool that is a parent's child is not offered first", () => {
    const rules = [ToolRule.init("a"), ToolRule.init("b"), ToolRule.parent("p", ["b"])]
    const plan = Solver.plan(Solver.compile(rules), T, Solver.initialState)
    expect(plan.allowed).toEqual(["a"])
    expect(plan.toolChoice).toEqual({ function: "a" })
  })

  it("at every later step: the child only right after its parent", () => {
    const compiled = Solver.compile([ToolRule.parent("p", ["b"])])
    const at = (state: Solver.State) => Solver.plan(compiled, T, state).allowed
    expect(at(Solver.initialState)).not.toContain("b")
    expect(at(Solver.record(Solver.initialState, "a", ""))).not.toContain("b")
    expect(at(Solver.record(Solver.initialState, "p", ""))).toEqual(["b"])
  })

  it("an init tool past its max-count is not offered", () => {
    const compiled = Solver.compile([ToolRule.init("a"), ToolRule.maxCountPerStep("a", 1)])
    const state = Solver.recordFailure(Solver.initialState, "a")
    expect(Solver.plan(compiled, T, state).allowed).toEqual([])
  })
})

describe("failed calls", () => {
  it("do not enter the rule history: init stays in force, required-before-exit stays uncalled", () => {
    const compiled = Solver.compile([ToolRule.init("a"), ToolRule.requiredBeforeExit("a")])
    const state = Solver.recordFailure(Solver.initialState, "a")
    expect(state.history).toEqual([])
    expect(Solver.plan(compiled, T, state)).toMatchObject({ allowed: ["a"], forceToolCall: true })
    expect(Solver.uncalledRequired(compiled, T, state)).toEqual(["a"])
  })

  it("spend max-count budget together with successful calls", () => {
    const compiled = Solver.compile([ToolRule.maxCountPerStep("a", 2)])
    const once = Solver.recordFailure(Solver.initialState, "a")
    expect(Solver.plan(compiled, T, once).allowed).toContain("a")
    expect(Solver.plan(compiled, T, Solver.record(once, "a", "ok")).allowed).not.toContain("a")
  })

  it("leave the last successful output for conditional rules", () => {
    const compiled = Solver.compile([ToolRule.conditional("a", { childOutputMapping: { yes: "b" } })])
    const state = Solver.recordFailure(Solver.record(Solver.initialState, "a", "yes"), "c")
    expect(Solver.plan(compiled, T, state).allowed).toEqual(["b"])
  })
})

describe("rule-set analysis", () => {
  it("accepts an empty rule set and ordinary chains", () => {
    expect(problems([])).toEqual([])
    expect(problems([ToolRule.init("a"), ToolRule.child("a", ["b"]), ToolRule.child("b", ["done"]), ToolRule.terminal("done")])).toEqual([])
  })

  it("init/parent conflict: names the init rule and the parent rule", () => {
    expect(problems([ToolRule.parent("p", ["a"]), ToolRule.init("a")])).toEqual(["1:Init:a", "0:Parent:p"])
  })

  it("unreachable required-before-exit tool: mutual parents", () => {
    expect(problems([ToolRule.parent("a", ["b"]), ToolRule.parent("b", ["a"]), ToolRule.requiredBeforeExit("a")])).toEqual([
      "2:RequiredBeforeExit:a"
    ])
  })

  it("unreachable required-before-exit tool: a strict conditional whose only mapping leads away from it", () => {
    const rules = [
      ToolRule.init("a"),
      ToolRule.conditional("a", { childOutputMapping: { x: "done" }, requireOutputMapping: true }),
      ToolRule.parent("c", ["b"]),
      ToolRule.parent("b", ["c"]),
      ToolRule.requiredBeforeExit("b")
    ]
    expect(problems(rules)).toContain("4:RequiredBeforeExit:b")
  })

  it("a required tool reachable only through a terminal tool is reachable (required-before-exit overrides terminal)", () => {
    expect(problems([ToolRule.init("done"), ToolRule.terminal("done"), ToolRule.requiredBeforeExit("a")])).toEqual([])
  })

  it("forced cycle: child rules that only call each other", () => {
    expect(problems([ToolRule.child("a", ["b"]), ToolRule.child("b", ["a"])])).toEqual(["0:Child:a", "1:Child:b"])
  })

  it("forced cycle through a conditional whose every outcome is forced back", () => {
    const rules = [ToolRule.conditional("a", { childOutputMapping: { x: "b" }, defaultChild: "b" }), ToolRule.child("b", ["a"])]
    expect(problems(rules)).toEqual(["0:Conditional:a", "1:Child:b"])
  })

  it("no false alarms: a terminal child, a max-count, an unforced outcome or a strict conditional are ways out", () => {
    expect(problems([ToolRule.child("a", ["b", "done"]), ToolRule.child("b", ["a"]), ToolRule.terminal("done")])).toEqual([])
    expect(problems([ToolRule.child("a", ["b"]), ToolRule.child("b", ["a"]), ToolRule.maxCountPerStep("b", 5)])).toEqual([])
    expect(problems([ToolRule.conditional("a", { childOutputMapping: { x: "a" } })])).toEqual([])
    expect(problems([ToolRule.conditional("a", { childOutputMapping: { x: "a" }, requireOutputMapping: true })])).toEqual([])
  })

  it("named tool choice: must be in the toolkit and allowed at the first step", () => {
    const none = Solver.compile([])
    expect(Analysis.toolChoiceProblem("required", none, T)).toBeUndefined()
    expect(Analysis.toolChoiceProblem({ function: "a" }, none, T)).toBeUndefined()
    expect(Analysis.toolChoiceProblem({ function: "zz" }, none, T)).toContain("not in the toolkit")
    expect(Analysis.toolChoiceProblem({ function: "b" }, Solver.compile([ToolRule.init("a")]), T)).toContain("init rules")
    expect(Analysis.toolChoiceProblem({ function: "a" }, Solver.compile([ToolRule.init("a")]), T)).toBeUndefined()
    expect(Analysis.toolChoiceProblem({ function: "b" }, Solver.compile([ToolRule.parent("p", ["b"])]), T)).toContain("parent rule")
  })
})
