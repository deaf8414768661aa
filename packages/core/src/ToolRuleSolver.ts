/**
 * The tool-rule solver: pure functions from (rules, available tools, call history) to what the next step may
 * do. No I/O, no Effect: the loop asks it before each model step and after each tool call.
 *
 * Semantics follow Letta's `ToolRulesSolver`, without the bugs listed in its research notes: each executed
 * call is counted once, conditional rules match the tool's own output, and approval never bypasses a rule
 * (the loop checks rules before it asks for approval).
 *
 * @since 0.1.0
 */
import type { ToolChoice } from "./LanguageModel.js"
import type { ToolRule } from "./ToolRule.js"

type Rule<K extends ToolRule["_tag"]> = Extract<ToolRule, { readonly _tag: K }>

/** Rules sorted by kind, built once per run. */
export interface Compiled {
  readonly rules: ReadonlyArray<ToolRule>
  readonly init: ReadonlyArray<Rule<"Init">>
  readonly initTools: ReadonlySet<string>
  /** Child, Conditional and MaxCountPerStep: Letta's "child-based" rules. */
  readonly childBased: ReadonlyArray<Rule<"Child" | "Conditional" | "MaxCountPerStep">>
  readonly parent: ReadonlyArray<Rule<"Parent">>
  readonly terminal: ReadonlySet<string>
  readonly continue: ReadonlySet<string>
  readonly requiredBeforeExit: ReadonlyArray<string>
  readonly requiresApproval: ReadonlySet<string>
  /** True when a call's validity depends on the calls before it, so calls must be processed one at a time. */
  readonly ordered: boolean
  /** Rules keyed by the tool they are attached to, for violation hints. */
  readonly byTool: ReadonlyMap<string, ReadonlyArray<ToolRule>>
  /** Indexes so that planning a step costs O(tools + active rules), not O(tools x rules). */
  readonly childRulesByTool: ReadonlyMap<string, ReadonlyArray<Rule<"Child" | "Conditional">>>
  readonly parentRulesByTool: ReadonlyMap<string, ReadonlyArray<Rule<"Parent">>>
  readonly parentsOfChild: ReadonlyMap<string, ReadonlySet<string>>
  readonly maxCount: ReadonlyMap<string, number>
}

export const compile = (rules: ReadonlyArray<ToolRule>): Compiled => {
  const of = <K extends ToolRule["_tag"]>(...tags: ReadonlyArray<K>) =>
    rules.filter((r): r is Rule<K> => (tags as ReadonlyArray<string>).includes(r._tag))
  const byTool = new Map<string, Array<ToolRule>>()
  for (const rule of rules) byTool.set(rule.tool, [...(byTool.get(rule.tool) ?? []), rule])
  const init = of("Init")
  const childBased = of("Child", "Conditional", "MaxCountPerStep")
  const parent = of("Parent")
  const group = <R extends ToolRule>(list: ReadonlyArray<R>) => {
    const map = new Map<string, Array<R>>()
    for (const rule of list) map.set(rule.tool, [...(map.get(rule.tool) ?? []), rule])
    return map
  }
  const parentsOfChild = new Map<string, Set<string>>()
  for (const rule of parent) {
    for (const c of rule.children) parentsOfChild.set(c, (parentsOfChild.get(c) ?? new Set()).add(rule.tool))
  }
  const maxCount = new Map<string, number>()
  for (const rule of of("MaxCountPerStep")) maxCount.set(rule.tool, Math.min(rule.maxCount, maxCount.get(rule.tool) ?? Infinity))
  return {
    rules,
    init,
    initTools: new Set(init.map((r) => r.tool)),
    childBased,
    parent,
    terminal: new Set(of("Terminal").map((r) => r.tool)),
    continue: new Set(of("Continue").map((r) => r.tool)),
    requiredBeforeExit: [...new Set(of("RequiredBeforeExit").map((r) => r.tool))],
    requiresApproval: new Set(of("RequiresApproval").map((r) => r.tool)),
    ordered: init.length + childBased.length + parent.length > 0,
    byTool,
    childRulesByTool: group(of("Child", "Conditional")),
    parentRulesByTool: group(parent),
    parentsOfChild,
    maxCount
  }
}

/**
 * What the solver knows about a run: the calls that succeeded so far, in order, and the last one's output
 * (only a successful call moves the rules on: it counts as called, fires a terminal rule, picks a
 * conditional child); and the calls that spend a max-count budget only: those whose handler ran but failed (a
 * failed call may have had side effects before it failed), and after a handoff every call made before it (the
 * run's budgets hold across handoffs; see `Handoff.restartRules`).
 */
export interface State {
  readonly history: ReadonlyArray<string>
  readonly lastOutput: string | undefined
  readonly failed?: ReadonlyArray<string>
}

export const initialState: State = { history: [], lastOutput: undefined }

/** Records a successful call. Rule violations and denied calls are never recorded. */
export const record = (state: State, toolName: string, output: string): State => ({
  history: [...state.history, toolName],
  lastOutput: output,
  ...(state.failed === undefined ? {} : { failed: state.failed })
})

/** Records a call whose handler ran and failed: it spends max-count budget and changes nothing else. */
export const recordFailure = (state: State, toolName: string): State => ({
  history: state.history,
  lastOutput: state.lastOutput,
  failed: [...(state.failed ?? []), toolName]
})

export interface Prefill {
  readonly args: Readonly<Record<string, unknown>>
  /** Which rule supplied the args, e.g. `Init(alpha)` or `Child(parent->child)`. */
  readonly source: string
}

export interface Plan {
  /** The tools the model may call next, in toolkit order. */
  readonly allowed: ReadonlyArray<string>
  /** A rule demands a tool call now (init, or right after a child/conditional/parent rule's tool). */
  readonly forceToolCall: boolean
  /** The tool choice the rules imply: `none` when nothing is allowed, forced when `forceToolCall`. */
  readonly toolChoice: ToolChoice
  /** Arguments to merge over the model's, per tool. */
  readonly prefill: ReadonlyMap<string, Prefill>
}

/** The allowed tools, forced choice and prefill for the next call. */
const noPrefill: ReadonlyMap<string, Prefill> = new Map()

export const plan = (compiled: Compiled, available: ReadonlyArray<string>, state: State): Plan => {
  if (compiled.rules.length === 0) {
    return { allowed: available, forceToolCall: false, toolChoice: available.length === 0 ? "none" : "auto", prefill: noPrefill }
  }
  const allowed = allowedTools(compiled, available, state)
  const forceToolCall = shouldForce(compiled, state)
  return {
    allowed,
    forceToolCall,
    toolChoice:
      allowed.length === 0
        ? "none"
        : forceToolCall
          ? allowed.length === 1
            ? { function: allowed[0]! }
            : "required"
          : "auto",
    prefill: prefillFor(compiled, allowed, state)
  }
}

const allowedTools = (compiled: Compiled, available: ReadonlyArray<string>, state: State): ReadonlyArray<string> => {
  const last = state.history[state.history.length - 1]
  const counts = compiled.maxCount.size === 0 ? undefined : countAll(state)
  const withinLimits = (tool: string): boolean => {
    // A parent rule's children may run only right after that parent (never first, init rule or not).
    const parents = compiled.parentsOfChild.get(tool)
    if (parents !== undefined) {
      for (const p of parents) if (p !== last) return false
    }
    const limit = compiled.maxCount.get(tool)
    return limit === undefined || (counts?.get(tool) ?? 0) < limit
  }
  if (state.history.length === 0 && compiled.init.length > 0) {
    // Unlike Letta, intersect with what is available: an init tool that is not there cannot be offered.
    return available.filter((t) => compiled.initTools.has(t) && withinLimits(t))
  }
  // Only rules attached to the last tool constrain the next call; every active one must agree (intersection).
  const required: Array<ReadonlySet<string> | undefined> = []
  for (const rule of (last === undefined ? undefined : compiled.childRulesByTool.get(last)) ?? []) {
    if (rule._tag === "Child") {
      required.push(new Set(rule.children))
    } else {
      const next = conditionalChild(rule, state.lastOutput)
      if (next !== "any") required.push(new Set(next === undefined ? [] : [next]))
    }
  }
  for (const rule of (last === undefined ? undefined : compiled.parentRulesByTool.get(last)) ?? []) {
    required.push(new Set(rule.children))
  }
  return available.filter((tool) => {
    for (const set of required) if (set !== undefined && !set.has(tool)) return false
    return withinLimits(tool)
  })
}

/** Calls per tool, successful or failed: max-count is a budget of attempts. */
const countAll = (state: State): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const name of state.history) counts.set(name, (counts.get(name) ?? 0) + 1)
  for (const name of state.failed ?? []) counts.set(name, (counts.get(name) ?? 0) + 1)
  return counts
}

/** The tool a conditional rule selects: a tool name, `"any"` (no constraint) or `undefined` (nothing allowed). */
export const conditionalChild = (rule: Rule<"Conditional">, output: string | undefined): string | "any" | undefined => {
  if (output !== undefined) {
    for (const [key, target] of Object.entries(rule.childOutputMapping)) {
      if (matchesKey(output, key)) return target
    }
  }
  if (rule.requireOutputMapping === true) return undefined
  return rule.defaultChild ?? "any"
}

/**
 * Exact string match, except that `"true"`/`"false"` keys match case-insensitively (so a Python tool's
 * `True` selects the `"true"` branch), and surrounding whitespace is ignored.
 */
const matchesKey = (output: string, key: string): boolean => {
  const value = output.trim()
  if (value === key) return true
  const lowered = key.toLowerCase()
  return (lowered === "true" || lowered === "false") && value.toLowerCase() === lowered
}

const shouldForce = (compiled: Compiled, state: State): boolean => {
  if (state.history.length === 0) return compiled.init.length > 0
  const last = state.history[state.history.length - 1]
  return last !== undefined && (compiled.childRulesByTool.has(last) || compiled.parentRulesByTool.has(last))
}

const prefillFor = (
  compiled: Compiled,
  allowed: ReadonlyArray<string>,
  state: State
): ReadonlyMap<string, Prefill> => {
  const result = new Map<string, Prefill>()
  const add = (tool: string, args: Readonly<Record<string, unknown>> | undefined, source: string) => {
    if (args === undefined || Object.keys(args).length === 0) return
    // Last write wins per key, as in Letta; the provenance is the last writer.
    result.set(tool, { args: { ...result.get(tool)?.args, ...args }, source })
  }
  if (state.history.length === 0) {
    for (const rule of compiled.init) add(rule.tool, rule.args, `Init(${rule.tool})`)
    return result
  }
  const last = state.history[state.history.length - 1]
  for (const rule of (last === undefined ? undefined : compiled.childRulesByTool.get(last)) ?? []) {
    if (rule._tag !== "Child") continue
    for (const node of rule.childArgNodes ?? []) {
      if (allowed.includes(node.name)) add(node.name, node.args, `Child(${rule.tool}->${node.name})`)
    }
  }
  return result
}

/**
 * The tool result text for a call the rules forbid, naming the valid tools and the rules that may have
 * been violated. `undefined` when the call is allowed.
 */
export const violation = (
  compiled: Compiled,
  currentPlan: Plan,
  toolName: string,
  state: State
): string | undefined => {
  if (currentPlan.allowed.includes(toolName)) return undefined
  const valid = currentPlan.allowed.length === 0 ? "(none: answer without calling a tool)" : `[${currentPlan.allowed.join(", ")}]`
  const last = state.history[state.history.length - 1]
  const hints = [...(compiled.byTool.get(toolName) ?? []), ...(last === undefined || last === toolName ? [] : (compiled.byTool.get(last) ?? []))]
    .map(describe)
    .filter((text): text is string => text !== undefined)
  const hintText = hints.length === 0 ? "" : `\n** Hint: Possible rules that were violated:\n${hints.map((h) => `\t- ${h}`).join("\n")}`
  return `[ToolConstraintError] Cannot call ${toolName}, valid tools include: ${valid}.${hintText}`
}

/** How calling `toolName` affects continuation, before the required-before-exit override. */
export const continuation = (compiled: Compiled, toolName: string): "stop" | "continue" =>
  compiled.terminal.has(toolName) ? "stop" : "continue"

/** Required-before-exit tools (that exist) which have not been called successfully yet, in rule order. */
export const uncalledRequired = (compiled: Compiled, available: ReadonlyArray<string>, state: State): ReadonlyArray<string> =>
  compiled.requiredBeforeExit.filter((tool) => available.includes(tool) && !state.history.includes(tool))

/** The re-prompt sent when the model tries to finish while required tools are uncalled. */
export const requiredBeforeExitPrompt = (tools: ReadonlyArray<string>): string =>
  `[This is an automated system message hidden from the user] ToolRuleViolated: You must call ${tools.join(", ")} at least once to exit the loop.`

/** One line per rule, as shown to the model (the same texts Letta compiles into its system prompt). */
export const describe = (rule: ToolRule): string | undefined => {
  switch (rule._tag) {
    case "Child":
      return `After using ${rule.tool}, you must use one of these tools: ${rule.children.join(", ")}`
    case "Parent":
      return `${rule.children.join(", ")} can only be used after ${rule.tool}`
    case "Conditional":
      return `${rule.tool} will determine which tool to use next based on its output`
    case "Terminal":
      return `${rule.tool} ends your response (yields control) when called`
    case "Continue":
      return `${rule.tool} requires continuing your response when called`
    case "MaxCountPerStep":
      return `${rule.tool}: at most ${rule.maxCount} use(s) per response`
    case "RequiredBeforeExit":
      return `${rule.tool} must be called before ending the conversation`
    case "Init":
      return `${rule.tool} must be called first`
    case "RequiresApproval":
      return undefined
  }
}

/** The rules as a prompt block, for the system message (empty when no rule has a description). */
export const renderPrompt = (compiled: Compiled): string => {
  const lines = compiled.rules.map(describe).filter((text): text is string => text !== undefined)
  return lines.length === 0 ? "" : `<tool_usage_rules>\n${lines.map((l) => `<tool_rule>${l}</tool_rule>`).join("\n")}\n</tool_usage_rules>`
}
