/**
 * The agent definition, as plain data: instructions, a toolkit, tool rules, tool choice, stop conditions and
 * the handoffs to other agents. An agent and its handoffs refer to each other, so both are defined here, once;
 * `Agent` and `Handoff` are the public faces (a backend, the local loop or a hosted API, runs an agent).
 *
 * @internal
 */
import { Effect, Schema } from "effect"
import type { ToolChoice } from "../LanguageModel.js"
import type { Message } from "../Message.js"
import * as Output from "../Output.js"
import type { RunState } from "../RunState.js"
import type * as Tool from "../Tool.js"
import type * as Toolkit from "../Toolkit.js"
import type { ToolRule } from "../ToolRule.js"

/** What a stop condition sees after each step that would otherwise continue. */
export interface StopContext {
  readonly state: RunState
  /** Tools called successfully in the step that just finished (a failed call is not listed). */
  readonly executed: ReadonlyArray<string>
}

/** Return true to stop the run with `Stopped { reason: "stop_condition" }`. */
export interface StopCondition {
  readonly description: string
  readonly check: (context: StopContext) => boolean | Effect.Effect<boolean>
}

export const StopCondition = {
  /** Stops once `n` model steps have run. */
  stepCount: (n: number): StopCondition => ({
    description: `${n} steps taken`,
    check: ({ state }) => state.step >= n
  }),
  /** Stops right after any of the named tools has run successfully. */
  hasToolCall: (...names: ReadonlyArray<string>): StopCondition => ({
    description: `one of [${names.join(", ")}] was called`,
    check: ({ executed }) => executed.some((name) => names.includes(name))
  }),
  /** Stops once the run has used more than `tokens` tokens in total. */
  tokensExceed: (tokens: number): StopCondition => ({
    description: `more than ${tokens} tokens used`,
    check: ({ state }) => state.usage.totalTokens > tokens
  }),
  make: (description: string, check: StopCondition["check"]): StopCondition => ({ description, check })
} as const

/**
 * `R`: the handler services of the agents it hands off to (and theirs, through their handoffs), which a
 * backend's layer needs besides the agent's own.
 */
export interface Agent<Tools extends Record<string, Tool.Any>, A = unknown, R = never> {
  readonly name: string
  /** The typed final output, when the agent was made with `output` (see `Output`). */
  readonly output: Output.Spec<A> | undefined
  readonly instructions: string | undefined
  readonly toolkit: Toolkit.Toolkit<Tools>
  readonly rules: ReadonlyArray<ToolRule>
  readonly toolChoice: ToolChoice
  /** After a forced choice (`required` or one function) has been honoured, go back to `auto`. Default true. */
  readonly resetToolChoice: boolean
  /**
   * How many times a text-only answer to a forced choice (`required`, one function, or a call the rules
   * force) is re-prompted before the run ends as `Stopped { reason: "tool_choice" }`. Default 2.
   */
  readonly toolChoiceRetries: number
  /** The most model steps one run may take. Default 20. */
  readonly maxSteps: number
  readonly stopWhen: ReadonlyArray<StopCondition>
  /** The most tool calls of one step that run at once, when no ordering rule is active. Default 8. */
  readonly toolConcurrency: number
  /** Append the rules, in words, to the system message. Default true. */
  readonly describeRules: boolean
  /** The agents the model may transfer the conversation to, each as a `transfer_to_<name>` tool (see `Handoff`). */
  readonly handoffs: ReadonlyArray<Handoff<R>>
  /** The most handoffs one run may take before it ends as `Stopped { reason: "max_handoffs" }`. Default 10. */
  readonly maxHandoffs: number
}

export interface Any extends Agent<Record<string, Tool.Any>, unknown, unknown> {}

export interface Options<
  Tools extends Record<string, Tool.Any>,
  A = unknown,
  I = unknown,
  H extends ReadonlyArray<HandoffAny> = ReadonlyArray<Handoff<never>>
> {
  readonly name: string
  /** Decode the final answer with this schema: `Completed.output` carries the value (see `Output`). */
  readonly output?: Schema.Codec<A, I>
  /** Invalid final answers returned to the model before the run stops with `invalid_output`. Default 2. */
  readonly outputRetries?: number
  /**
   * How the model is asked for the output (see `Output.Mode`): `"response_format"` (default), `"tool"` (a
   * final-answer tool), `"text"`, or `"auto"` (what the model declares it does best).
   */
  readonly outputMode?: Output.Mode
  /** The final-answer tool's name in `"tool"` mode; must not be a toolkit tool's name. Default `final_answer`. */
  readonly outputTool?: string
  readonly instructions?: string
  readonly toolkit: Toolkit.Toolkit<Tools>
  readonly rules?: ReadonlyArray<ToolRule>
  readonly toolChoice?: ToolChoice
  readonly resetToolChoice?: boolean
  readonly toolChoiceRetries?: number
  readonly maxSteps?: number
  readonly stopWhen?: ReadonlyArray<StopCondition>
  readonly toolConcurrency?: number
  readonly describeRules?: boolean
  /** Agents the model may hand the conversation to (`Handoff.make(agent, options)`). */
  readonly handoffs?: H
  /** The most handoffs one run may take (the run's agent's limit applies to the whole run). Default 10. */
  readonly maxHandoffs?: number
}

export const make = <
  Tools extends Record<string, Tool.Any>,
  A = unknown,
  I = unknown,
  const H extends ReadonlyArray<HandoffAny> = readonly []
>(options: Options<Tools, A, I, H>): Agent<Tools, A, HandoffRequirements<H[number]>> => {
  const maxSteps = options.maxSteps ?? 20
  if (!Number.isInteger(maxSteps) || maxSteps < 1) throw new TypeError(`Agent "${options.name}": maxSteps must be an integer >= 1`)
  const toolConcurrency = options.toolConcurrency ?? 8
  if (!Number.isInteger(toolConcurrency) || toolConcurrency < 1) {
    throw new TypeError(`Agent "${options.name}": toolConcurrency must be an integer >= 1`)
  }
  const toolChoiceRetries = options.toolChoiceRetries ?? 2
  if (!Number.isInteger(toolChoiceRetries) || toolChoiceRetries < 0) {
    throw new TypeError(`Agent "${options.name}": toolChoiceRetries must be an integer >= 0`)
  }
  const maxHandoffs = options.maxHandoffs ?? 10
  if (!Number.isInteger(maxHandoffs) || maxHandoffs < 0) throw new TypeError(`Agent "${options.name}": maxHandoffs must be an integer >= 0`)
  return {
    name: options.name,
    output:
      options.output === undefined
        ? undefined
        : Output.make(options.output, {
            name: options.name,
            ...(options.outputRetries === undefined ? {} : { retries: options.outputRetries }),
            ...(options.outputMode === undefined ? {} : { mode: options.outputMode }),
            ...(options.outputTool === undefined ? {} : { toolName: options.outputTool })
          }),
    instructions: options.instructions,
    toolkit: options.toolkit,
    rules: options.rules ?? [],
    toolChoice: options.toolChoice ?? "auto",
    resetToolChoice: options.resetToolChoice ?? true,
    toolChoiceRetries,
    maxSteps,
    stopWhen: options.stopWhen ?? [],
    toolConcurrency,
    describeRules: options.describeRules ?? true,
    handoffs: (options.handoffs ?? []) as unknown as ReadonlyArray<Handoff<HandoffRequirements<H[number]>>>,
    maxHandoffs
  }
}

/**
 * The agent's named tool choice can never be honoured: the tool is not in the toolkit, or the rules forbid
 * it at the step where the choice applies. Raised when the agent (or its backend) is built.
 */
export class InvalidToolChoice extends Schema.TaggedError<InvalidToolChoice>()("InvalidToolChoice", {
  agent: Schema.String,
  tool: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Agent "${this.agent}": tool choice { function: "${this.tool}" } ${this.reason}`
  }
}

/** Evaluates a stop condition, whether it is a plain predicate or an Effect. */
export const checkStop = (condition: StopCondition, context: StopContext): Effect.Effect<boolean> => {
  const result = condition.check(context)
  return typeof result === "boolean" ? Effect.succeed(result) : result
}

// ---------------------------------------------------------------------------------------------------------
// Handoffs (see `Handoff`)

/** Rewrites the history the target agent gets (its leading system message excluded). Must be pure. */
export type InputFilter = (messages: ReadonlyArray<Message>) => ReadonlyArray<Message>

export interface HandoffOptions {
  /** The tool's name. Default `transfer_to_<target name>` (characters a tool name cannot have become `_`). */
  readonly name?: string
  /** What the model is told the target does. Default: "Hand off to the <name> agent to handle the request." */
  readonly description?: string
  /** Rewrites the history the target gets (e.g. `removeToolCalls`). Default: the history as it is. */
  readonly inputFilter?: InputFilter
  /** The transfer needs approval, like a gated tool. Default false. */
  readonly requiresApproval?: boolean
}

/**
 * A handoff to an agent. `R` is what its target needs from the context (its tools' handlers, and those of
 * the agents it hands off to), so a backend's layer asks for them.
 */
export interface Handoff<out R = never> {
  readonly _tag: "Handoff"
  /** The target, resolved when a runner is built (a function, so that agents can hand back to each other). */
  readonly target: () => Any
  readonly options: HandoffOptions
  /** Phantom: the services the target needs. */
  readonly requirements?: () => R
}

export interface HandoffAny extends Handoff<unknown> {}

/** The services a list of handoffs' targets need. */
export type HandoffRequirements<H> = H extends Handoff<infer R> ? R : never

/** The handler services an agent's toolkit needs, and those its handoffs need (see `Agent.Agent`). */
export type HandoffNeeds<Tools extends Record<string, Tool.Any>, R> = Toolkit.HandlerIds<Tools> | R

/** Any agent, as the return type of a function target: `(): Handoff.Target => triage`. */
export type HandoffTarget = Agent<any, any, any>
