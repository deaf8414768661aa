/**
 * Rule-set analysis: finds rule sets that cannot work before any run starts. Pure; `Loop.makeRunner` (and so
 * every backend's layer) runs it once per agent and fails with `InvalidToolRules` naming the rules involved.
 *
 * The analysis walks the solver itself over abstract states ("the last successful call was T", with every
 * output a conditional rule could match, plus one that matches nothing), so it can never disagree with
 * what the loop does. It only rejects what is certain:
 * - an init tool that a parent rule allows only right after its parent (it can never run first);
 * - a required-before-exit tool that no sequence of allowed calls reaches (the run could never end);
 * - a forced cycle: once reached, every step must call a tool again, none of them terminal, and no
 *   max-count can run out (a max-counted tool is assumed to be a way out).
 * A tool both terminal and continue is rejected by `ToolRule.validate`.
 *
 * @since 0.1.0
 */
import type { ToolChoice } from "./LanguageModel.js"
import type { Problem, ToolRule } from "./ToolRule.js"
import * as Solver from "./ToolRuleSolver.js"

/** An output that no mapping key matches (keys are compared trimmed, so a NUL byte cannot collide). */
const unmatched = "\u0000no mapping key matches this output\u0000"

interface Node {
  /** The next calls the rules may allow after this state, over every output the last call could have had. */
  readonly next: ReadonlySet<string>
  /** The run can end here: a text answer is allowed (no call forced, or nothing allowed), or T is terminal. */
  readonly exit: boolean
}

/** Problems with a compiled rule set over the given tools; `rules` is the list as given, for indexes. */
export const analyze = (
  rules: ReadonlyArray<ToolRule>,
  compiled: Solver.Compiled,
  available: ReadonlyArray<string>
): ReadonlyArray<Problem> => {
  if (compiled.rules.length === 0) return []
  const problems: Array<Problem> = []
  const report = (rule: ToolRule, reason: string) =>
    problems.push({ index: indexOf(rules, rule), rule: rule._tag, tool: rule.tool, reason })
  const label = (rule: ToolRule) => `rule ${indexOf(rules, rule)} (${rule._tag} ${rule.tool})`

  for (const rule of compiled.init) {
    const parents = compiled.parent.filter((p) => p.children.includes(rule.tool))
    if (parents.length > 0) {
      report(rule, `init tool "${rule.tool}" may run only right after its parent (${parents.map(label).join(", ")}), so it can never run first`)
      for (const parent of parents) {
        report(parent, `its child "${rule.tool}" is an init tool (${label(rule)}), which needs it to run first`)
      }
    }
  }
  if (problems.length > 0) return problems

  const graph = explore(compiled, available)
  for (const tool of compiled.requiredBeforeExit) {
    if (!available.includes(tool) || graph.reachable.has(tool)) continue
    const rbe = compiled.rules.find((r) => r._tag === "RequiredBeforeExit" && r.tool === tool)!
    const naming = compiled.rules.filter((r) => r._tag === "Init" || ((r._tag === "Parent" || r._tag === "Child") && r.children.includes(tool)))
    const blockers = naming.length > 0 ? naming : compiled.rules.filter((r) => r._tag === "Child" || r._tag === "Parent" || r._tag === "Conditional")
    report(
      rbe,
      `"${tool}" can never be called: no sequence of calls the rules allow reaches it (${blockers.map(label).join(", ")}), so the run could never end`
    )
  }

  const trapped = [...graph.reachable].filter((tool) => !graph.canExit.has(tool))
  const startTrapped = !graph.canExit.has(start)
  if (trapped.length > 0 || startTrapped) {
    const involved = compiled.rules.filter(
      (r) =>
        ((r._tag === "Child" || r._tag === "Parent" || r._tag === "Conditional") && trapped.includes(r.tool)) ||
        (startTrapped && r._tag === "Init")
    )
    const cycle = trapped.length === 0 ? "the init tools" : trapped.join(", ")
    for (const rule of involved) {
      report(
        rule,
        `forced cycle with no exit: after ${cycle}, every step must call one of ${cycle} again and none is terminal, so the run could never end (${involved.map(label).join(", ")})`
      )
    }
  }
  return problems
}

/**
 * Whether a named tool choice can be honoured at the first step where it applies: the tool is in the toolkit
 * and the rules allow it before any call (an init rule naming other tools, or a parent rule, forbids it).
 * Returns the reason it cannot, or `undefined`.
 */
export const toolChoiceProblem = (choice: ToolChoice, compiled: Solver.Compiled, available: ReadonlyArray<string>): string | undefined => {
  if (typeof choice !== "object") return undefined
  if (!available.includes(choice.function)) {
    return `names a tool that is not in the toolkit (available: ${available.join(", ") || "(none)"})`
  }
  const first = Solver.plan(compiled, available, Solver.initialState)
  if (!first.allowed.includes(choice.function)) {
    const why = compiled.init.length > 0 ? "init rules require another tool first" : "a parent rule allows it only right after its parent"
    return `is forbidden by the tool rules at the first step (${why}; allowed: ${first.allowed.join(", ") || "(none)"})`
  }
  return undefined
}

const start = "\u0000start"

/** Every state reachable from the start, and the states from which the run can still end. */
const explore = (compiled: Solver.Compiled, available: ReadonlyArray<string>) => {
  // After a tool no ordering rule is attached to, nothing is forced (an exit) and every tool that is not a
  // parent's child may follow: one shared node for all of them keeps the walk O(tools + rules).
  const free: Node = { next: new Set(available.filter((t) => !compiled.parentsOfChild.has(t))), exit: true }
  const nodes = new Map<string, Node>()
  const nodeOf = (state: string): Node => {
    let node = nodes.get(state)
    if (node === undefined) {
      node =
        state === start
          ? startNode(compiled, available)
          : compiled.childRulesByTool.has(state) || compiled.parentRulesByTool.has(state)
            ? toolNode(compiled, available, state)
            : free
      nodes.set(state, node)
    }
    return node
  }
  const reachable = new Set<string>()
  const queue = [start]
  let freeWalked = false
  while (queue.length > 0) {
    const node = nodeOf(queue.pop()!)
    if (node === free) {
      if (freeWalked) continue
      freeWalked = true
    }
    for (const tool of node.next) {
      if (!reachable.has(tool)) {
        reachable.add(tool)
        queue.push(tool)
      }
    }
  }
  // Backwards from the exits (one pass over reversed edges): a state can end if it is an exit or some next
  // state can end.
  const states = [start, ...reachable]
  const previous = new Map<string, Array<string>>()
  for (const state of states) {
    // An exit's own next states do not matter: it can end already.
    const node = nodeOf(state)
    if (node.exit) continue
    for (const tool of node.next) {
      const list = previous.get(tool)
      if (list === undefined) previous.set(tool, [state])
      else list.push(state)
    }
  }
  const canExit = new Set(states.filter((state) => nodeOf(state).exit))
  const pending = [...canExit]
  while (pending.length > 0) {
    for (const before of previous.get(pending.pop()!) ?? []) {
      if (!canExit.has(before)) {
        canExit.add(before)
        pending.push(before)
      }
    }
  }
  return { reachable, canExit }
}

const startNode = (compiled: Solver.Compiled, available: ReadonlyArray<string>): Node => {
  const plan = Solver.plan(compiled, available, Solver.initialState)
  return { next: new Set(plan.allowed), exit: !plan.forceToolCall || plan.allowed.length === 0 }
}

const toolNode = (compiled: Solver.Compiled, available: ReadonlyArray<string>, tool: string): Node => {
  const outputs = new Set<string>([unmatched])
  for (const rule of compiled.childBased) {
    if (rule._tag === "Conditional" && rule.tool === tool) for (const key of Object.keys(rule.childOutputMapping)) outputs.add(key)
  }
  const next = new Set<string>()
  // A max-counted tool may run out, which may leave nothing allowed: assume it is a way out.
  let exit = compiled.terminal.has(tool) || compiled.maxCount.has(tool)
  for (const output of outputs) {
    const plan = Solver.plan(compiled, available, { history: [tool], lastOutput: output })
    for (const name of plan.allowed) next.add(name)
    if (!plan.forceToolCall || plan.allowed.length === 0) exit = true
  }
  return { next, exit }
}

const indexOf = (rules: ReadonlyArray<ToolRule>, rule: ToolRule): number => {
  const index = rules.indexOf(rule)
  return index >= 0 ? index : rules.findIndex((r) => r._tag === rule._tag && r.tool === rule.tool)
}
