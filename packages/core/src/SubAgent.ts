/**
 * Agents as tools: `asTool(agent, options)` runs a sub-agent as one tool call of a parent run, with its
 * own toolkit, rules and approvals. The sub-agent's run is stored in the same `RunStore` under an id derived
 * from the parent's run and call (`<parentRunId>.<toolCallId>`, see `childRunId`), so it survives a restart with the parent.
 *
 * When the sub-agent suspends on an approval, the parent run suspends with that pending approval (its
 * tool-call id is `<parent call id>/<sub-agent call id>`, `via` names the parent's call). One `resume` of
 * the parent with the decision resumes the sub-agent, and both go on. A sub-agent inside a sub-agent nests
 * the same way.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import type * as Agent from "./Agent.js"
import * as Loop from "./Loop.js"
import type { RunOutcome } from "./RunState.js"
import { RunStore } from "./RunStore.js"
import * as Tool from "./Tool.js"
import * as Toolkit from "./Toolkit.js"

export interface Options<Name extends string> {
  /** The tool's name (default: the agent's name, which must then be a valid tool name). */
  readonly name?: Name
  /** What the parent's model is told the sub-agent does. */
  readonly description: string
  /** Needs approval before the sub-agent starts at all (its own tools still ask for theirs). Default false. */
  readonly requiresApproval?: boolean
}

const Parameters = { input: Schema.String.annotations({ description: "The task or question for the sub-agent." }) }
const Failure = Schema.Struct({ message: Schema.String })

export type SubAgentTool<Name extends string> = Tool.Tool<Name, typeof Parameters, typeof Schema.String, typeof Failure>

export interface AsTool<Name extends string, Tools extends Record<string, Tool.Any>, R = never> {
  readonly tool: SubAgentTool<Name>
  /** A toolkit of just this tool: merge it into the parent's (`Toolkit.merge`). */
  readonly toolkit: Toolkit.Toolkit<{ [K in Name]: SubAgentTool<Name> }>
  /** The tool's handler: runs the sub-agent over the services in context (its model, approvals, store, handlers). */
  readonly layer: Layer.Layer<Tool.Handler<Name>, Loop.LoopError, Loop.Requirements<Tools> | R>
}

/** The sub-agent run of one parent call: `<parentRunId>.<toolCallId>` (characters a store may refuse become `_`). */
export const childRunId = (parentRunId: string, toolCallId: string): string => `${parentRunId}.${toolCallId.replace(/[^A-Za-z0-9_-]/g, "_")}`

/** The text the parent's model gets from a finished sub-agent run. */
const answer = (outcome: Exclude<RunOutcome, { _tag: "Suspended" }>): string =>
  outcome._tag === "Completed"
    ? outcome.output === undefined
      ? outcome.text
      : JSON.stringify(outcome.output)
    : `The sub-agent stopped (${outcome.reason}): ${outcome.detail}${outcome.text.length > 0 ? `\nIts last answer: ${outcome.text}` : ""}`

/** Runs `agent` as a tool of another agent (see the module docs). */
export const asTool = <Tools extends Record<string, Tool.Any>, A, const Name extends string = string, R = never>(
  agent: Agent.Agent<Tools, A, R>,
  options: Options<Name>
): AsTool<Name, Tools, R> => {
  const name = (options.name ?? agent.name) as Name
  const tool = Tool.make(name, {
    description: options.description,
    parameters: Parameters,
    success: Schema.String,
    failure: Failure,
    requiresApproval: options.requiresApproval ?? false
  })
  const toolkit = Toolkit.make(tool) as unknown as AsTool<Name, Tools, R>["toolkit"]
  const layer = Layer.effectContext(
    Effect.gen(function* () {
      const runner = yield* Loop.makeRunner(agent)
      const store = yield* RunStore
      const handler: Tool.AnyHandlerFn = ({ input }: { input: string }, context: Tool.HandlerContext) =>
        Effect.gen(function* () {
          const runId = childRunId(context.runId, context.toolCallId)
          const existing = yield* store.load(runId)
          // Idempotent: a call that runs again (a resume, a recovery) continues the same sub-agent run.
          const outcome: RunOutcome = Option.isNone(existing)
            ? yield* runner.run({ input, runId })
            : existing.value.outcome !== undefined && existing.value.status !== "suspended"
              ? existing.value.outcome
              : yield* runner.resume(runId, context.decisions ?? [])
          if (outcome._tag !== "Suspended") return answer(outcome)
          if (context.suspend === undefined) return yield* Effect.fail({ message: "the sub-agent needs an approval, but its caller cannot suspend" })
          context.suspend(context.toolCallId, outcome.pending)
          return ""
        }).pipe(Effect.catchAll((error) => Effect.fail({ message: "message" in (error as object) ? String((error as { message: unknown }).message) : String(error) })))
      return Context.make(toolkit.handlerTag(name as never), handler)
    })
  ) as unknown as AsTool<Name, Tools, R>["layer"]
  return { tool, toolkit, layer }
}
