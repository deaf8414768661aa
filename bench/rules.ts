/**
 * W4: the tool-rule solver with 1,000 tools and 1,000 rules of every kind. One step is what the loop does
 * per call: plan (allowed tools, forced choice, prefill), check the call, record it.
 */
import { Tool, ToolRule, ToolRuleSolver as Solver } from "@agentloop/core"
import { Result } from "effect"

export const makeRuleSet = (toolCount = 1000, ruleCount = 1000) => {
  const names = Array.from({ length: toolCount }, (_, i) => `tool_${i}`)
  const at = (i: number) => names[((i % toolCount) + toolCount) % toolCount]!
  const rules: Array<ToolRule.ToolRule> = []
  for (let i = 0; rules.length < ruleCount; i++) {
    switch (i % 8) {
      case 0:
        rules.push(ToolRule.child(at(i), [at(i + 1), at(i + 2), at(i + 3)]))
        break
      case 1:
        rules.push(ToolRule.conditional(at(i), { childOutputMapping: { ok: at(i + 1), retry: at(i) }, defaultChild: at(i + 1) }))
        break
      case 2:
        rules.push(ToolRule.maxCountPerStep(at(i), 3))
        break
      case 3:
        rules.push(ToolRule.parent(at(i + 500), [at(i + 501)]))
        break
      case 4:
        rules.push(ToolRule.continue(at(i)))
        break
      case 5:
        rules.push(ToolRule.requiresApproval(at(i)))
        break
      case 6:
        rules.push(ToolRule.terminal(at(i + 997)))
        break
      case 7:
        rules.push(ToolRule.requiredBeforeExit(at(i + 900)))
        break
    }
  }
  rules.push(ToolRule.init(at(0)))
  const tools = new Map(names.map((name) => [name, Tool.make(name, { description: name }) as Tool.Any]))
  const validated = ToolRule.validate(rules, tools)
  if (Result.isFailure(validated)) throw new Error(validated.failure.message)
  return { names, compiled: Solver.compile(validated.success) }
}

/**
 * Walks `steps` calls, each to an allowed tool (rotating through the allowed set so the walk visits many
 * rules). When the rules leave no tool, the run is over and the walk starts a new one.
 */
export const walk = (ruleSet: ReturnType<typeof makeRuleSet>, steps: number): number => {
  let state = Solver.initialState
  let taken = 0
  for (let s = 0; s < steps; s++) {
    const plan = Solver.plan(ruleSet.compiled, ruleSet.names, state)
    const next = plan.allowed[s % Math.max(1, plan.allowed.length)]
    if (next === undefined) {
      state = Solver.initialState
      continue
    }
    if (Solver.violation(ruleSet.compiled, plan, next, state) !== undefined) throw new Error("the solver rejected its own choice")
    state = Solver.record(state, next, "ok")
    taken++
  }
  return taken + (steps - taken) // every iteration is one solver step, including the plans that found no tool
}
