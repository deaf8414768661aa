/**
 * Tool rules: declarative constraints on which tool may be called when, modelled on Letta's nine rule kinds.
 * Rules are data (Schemas, so they serialize with a run); `ToolRuleSolver` gives them meaning.
 *
 * @since 0.1.0
 */
import { Result, Schema } from "effect"
import type * as Tool from "./Tool.js"

const Args = Schema.Record(Schema.String, Schema.Unknown)
type Args = typeof Args.Type

/** The first call of a run must be one of the init tools; `args` are prefilled over the model's arguments. */
export const Init = Schema.TaggedStruct("Init", { tool: Schema.String, args: Schema.optional(Args) })
/** Right after `tool`, only `children` may be called; `childArgNodes` prefill a chosen child's arguments. */
export const Child = Schema.TaggedStruct("Child", {
  tool: Schema.String,
  children: Schema.Array(Schema.String),
  childArgNodes: Schema.optional(Schema.Array(Schema.Struct({ name: Schema.String, args: Schema.optional(Args) })))
})
/** `children` may be called only right after `tool`, and right after `tool` only they may be. */
export const Parent = Schema.TaggedStruct("Parent", { tool: Schema.String, children: Schema.Array(Schema.String) })
/** Calling `tool` ends the run (once every required-before-exit tool has been called). */
export const Terminal = Schema.TaggedStruct("Terminal", { tool: Schema.String })
/** Calling `tool` always continues the run. */
export const Continue = Schema.TaggedStruct("Continue", { tool: Schema.String })
/**
 * Right after `tool`, its output picks the next tool: the first `childOutputMapping` key equal to the output.
 * No match: `defaultChild` if set; otherwise no constraint, or no tool at all with `requireOutputMapping`.
 */
export const Conditional = Schema.TaggedStruct("Conditional", {
  tool: Schema.String,
  childOutputMapping: Schema.Record(Schema.String, Schema.String),
  defaultChild: Schema.optional(Schema.String),
  requireOutputMapping: Schema.optional(Schema.Boolean)
})
/** The run may not end (by text or by a terminal tool) until `tool` has been called. */
export const RequiredBeforeExit = Schema.TaggedStruct("RequiredBeforeExit", { tool: Schema.String })
/** `tool` may be called at most `maxCount` times in one run. */
export const MaxCountPerStep = Schema.TaggedStruct("MaxCountPerStep", {
  tool: Schema.String,
  maxCount: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
})
/** Every call of `tool` needs an approval before it runs. */
export const RequiresApproval = Schema.TaggedStruct("RequiresApproval", { tool: Schema.String })

export const ToolRule = Schema.Union([
  Init,
  Child,
  Parent,
  Terminal,
  Continue,
  Conditional,
  RequiredBeforeExit,
  MaxCountPerStep,
  RequiresApproval
])
export type ToolRule = typeof ToolRule.Type
export type Kind = ToolRule["_tag"]

export const init = (tool: string, options?: { readonly args?: Args }): ToolRule =>
  options?.args === undefined ? Init.make({ tool }) : Init.make({ tool, args: options.args })
export const child = (
  tool: string,
  children: ReadonlyArray<string>,
  options?: { readonly childArgNodes?: ReadonlyArray<{ readonly name: string; readonly args?: Args }> }
): ToolRule =>
  options?.childArgNodes === undefined
    ? Child.make({ tool, children })
    : Child.make({ tool, children, childArgNodes: options.childArgNodes })
export const parent = (tool: string, children: ReadonlyArray<string>): ToolRule => Parent.make({ tool, children })
export const terminal = (tool: string): ToolRule => Terminal.make({ tool })
const continueRule = (tool: string): ToolRule => Continue.make({ tool })
export { continueRule as continue }
export const conditional = (
  tool: string,
  options: {
    readonly childOutputMapping: Readonly<Record<string, string>>
    readonly defaultChild?: string
    readonly requireOutputMapping?: boolean
  }
): ToolRule => Conditional.make({ tool, ...options })
export const requiredBeforeExit = (tool: string): ToolRule => RequiredBeforeExit.make({ tool })
export const maxCountPerStep = (tool: string, maxCount: number): ToolRule =>
  ({ _tag: "MaxCountPerStep", tool, maxCount })
export const requiresApproval = (tool: string): ToolRule => RequiresApproval.make({ tool })

/**
 * A key that is equal for equal rules: children and mappings compare order-insensitively, as in Letta.
 * Prefill args are part of a rule's identity (two Init rules with different args are different rules).
 */
export const key = (rule: ToolRule): string => {
  switch (rule._tag) {
    case "Child":
      return JSON.stringify([rule._tag, rule.tool, [...rule.children].sort(), canonical(rule.childArgNodes)])
    case "Parent":
      return JSON.stringify([rule._tag, rule.tool, [...rule.children].sort()])
    case "Conditional":
      return JSON.stringify([
        rule._tag,
        rule.tool,
        canonical(rule.childOutputMapping),
        rule.defaultChild ?? null,
        rule.requireOutputMapping ?? false
      ])
    case "MaxCountPerStep":
      return JSON.stringify([rule._tag, rule.tool, rule.maxCount])
    case "Init":
      return JSON.stringify([rule._tag, rule.tool, canonical(rule.args)])
    default:
      return JSON.stringify([rule._tag, rule.tool])
  }
}

const canonical = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(canonical)
  if (typeof value === "object" && value !== null) {
    return Object.keys(value)
      .sort()
      .map((k) => [k, canonical((value as Record<string, unknown>)[k])])
  }
  return value ?? null
}

export const equals = (a: ToolRule, b: ToolRule): boolean => key(a) === key(b)

/** Removes duplicate rules, keeping the first of each. */
export const dedupe = (rules: ReadonlyArray<ToolRule>): ReadonlyArray<ToolRule> => {
  const seen = new Set<string>()
  return rules.filter((rule) => {
    const k = key(rule)
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

export interface Problem {
  /** Index of the rule in the list given. */
  readonly index: number
  readonly rule: Kind
  readonly tool: string
  readonly reason: string
}

/** A rule set that can never be satisfied by the toolkit it runs with. Raised before the run starts. */
/** A `Problem`, as a Schema (the fields of `InvalidToolRules`). */
const ProblemSchema = Schema.Struct({
  index: Schema.Number,
  rule: Schema.Literals(["Init", "Child", "Parent", "Terminal", "Continue", "Conditional", "RequiredBeforeExit", "MaxCountPerStep", "RequiresApproval"]),
  tool: Schema.String,
  reason: Schema.String
})

export class InvalidToolRules extends Schema.TaggedError<InvalidToolRules>()("InvalidToolRules", {
  problems: Schema.Array(ProblemSchema)
}) {
  override get message(): string {
    return `Invalid tool rules: ${this.problems.map((p) => `rule ${p.index} (${p.rule} ${p.tool}): ${p.reason}`).join("; ")}`
  }
}

/**
 * Checks a rule set against the tools it will run with: every named tool must exist, prefilled args must
 * name real parameters with valid values, and no tool may be both terminal and continue.
 */
export const validate = (
  rules: ReadonlyArray<ToolRule>,
  tools: ReadonlyMap<string, Tool.Any>
): Result.Result<ReadonlyArray<ToolRule>, InvalidToolRules> => {
  const problems: Array<Problem> = []
  const available = [...tools.keys()].join(", ") || "(none)"
  rules.forEach((rule, index) => {
    const problem = (tool: string, reason: string) => problems.push({ index, rule: rule._tag, tool: rule.tool, reason: reason.replace("%s", tool) })
    const mustExist = (name: string, role: string) => {
      if (!tools.has(name)) problem(name, `${role} "${name}" is not in the toolkit (available: ${available})`)
    }
    mustExist(rule.tool, "tool")
    switch (rule._tag) {
      case "Init":
        checkPrefill(tools.get(rule.tool), rule.args, (reason) => problem(rule.tool, reason))
        break
      case "Child":
        if (rule.children.length === 0) problem(rule.tool, "children must not be empty")
        rule.children.forEach((c) => mustExist(c, "child"))
        for (const node of rule.childArgNodes ?? []) {
          if (!rule.children.includes(node.name)) {
            problem(node.name, `child_arg_nodes names "${node.name}", which is not in children`)
          } else {
            checkPrefill(tools.get(node.name), node.args, (reason) => problem(node.name, reason))
          }
        }
        break
      case "Parent":
        if (rule.children.length === 0) problem(rule.tool, "children must not be empty")
        rule.children.forEach((c) => mustExist(c, "child"))
        break
      case "Conditional": {
        const targets = Object.values(rule.childOutputMapping)
        if (targets.length === 0) problem(rule.tool, "childOutputMapping must have at least one entry")
        targets.forEach((c) => mustExist(c, "mapped child"))
        if (rule.defaultChild !== undefined) mustExist(rule.defaultChild, "defaultChild")
        break
      }
      case "MaxCountPerStep":
        if (!Number.isInteger(rule.maxCount) || rule.maxCount < 1) {
          problem(rule.tool, `maxCount must be an integer >= 1, got ${rule.maxCount}`)
        }
        break
      default:
        break
    }
  })
  const terminal = new Set(rules.filter((r) => r._tag === "Terminal").map((r) => r.tool))
  rules.forEach((rule, index) => {
    if (rule._tag === "Continue" && terminal.has(rule.tool)) {
      problems.push({ index, rule: rule._tag, tool: rule.tool, reason: "the tool is also terminal; it cannot both end and continue the run" })
    }
  })
  return problems.length === 0 ? Result.succeed(dedupe(rules)) : Result.fail(new InvalidToolRules({ problems }))
}

/** Prefilled args must name the tool's parameters and carry values its schema accepts. */
const checkPrefill = (tool: Tool.Any | undefined, args: Args | undefined, report: (reason: string) => void): void => {
  if (tool === undefined || args === undefined) return
  const fields = tool.parameters.fields as Schema.Struct.Fields
  for (const [name, value] of Object.entries(args)) {
    const field = fields[name]
    if (field === undefined) {
      report(`Unknown argument '${name}' for tool '${tool.name}'`)
      continue
    }
    // A one-field struct decodes plain schemas and optional property signatures alike.
    const decoded = Schema.decodeUnknownResult(Schema.Struct({ [name]: field }) as unknown as Schema.Decoder<unknown>)({
      [name]: value
    })
    if (Result.isFailure(decoded)) {
      report(`Invalid value for '${name}': ${decoded.failure.message}`)
    }
  }
}
