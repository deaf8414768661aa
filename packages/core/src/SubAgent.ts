/**
 * Agents as tools: `asTool(agent, options)` runs a sub-agent as one tool call of a parent run, with its
 * own toolkit, rules and approvals. The sub-agent's run is stored in the same `RunStore` under an id derived
 * from the parent's run and call (`<parentRunId>.<toolCallId>`, or `<parentRunId>.<step>.<toolCallId>` when an
 * earlier step of the parent reused the call id; see `childRunId`), so it survives a restart with the parent,
 * and each call starts its own sub-run even when the provider sends `call_0` on every step.
 *
 * When the sub-agent suspends on an approval, the parent run suspends with that pending approval (its
 * tool-call id is `<parent call id>/<sub-agent call id>`, `via` names the parent's call). One `resume` of
 * the parent with the decision resumes the sub-agent, and both go on. A sub-agent inside a sub-agent nests
 * the same way.
 *
 * When someone consumes the parent run's events (`stream`, `onEvent`, `RunEvents.toAsyncIterable`), the
 * sub-agent's events are forwarded into them as they happen, as `SubAgentEvent`s naming the sub-agent and
 * the parent's call (nested sub-agents add a hop to `path`).
 *
 * Under a durable engine (`@agentloop/workflow`, which provides `StepRunner.SubRun` to each tool call) the
 * sub-agent runs inside the calling run's workflow instead: its steps and approvals are the engine's, and its
 * approval suspends the calling workflow (see docs/durable.md, "Sub-agents and their approvals").
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer, Option, Schema } from "effect"
import type * as Agent from "./internal/agent.js"
import * as AgentEvent from "./AgentEvent.js"
import * as Approval from "./Approval.js"
import * as CallKey from "./internal/callKey.js"
import * as Loop from "./Loop.js"
import type { RunOutcome, RunState } from "./RunState.js"
import * as RunStore from "./RunStore.js"
import * as StepRunner from "./StepRunner.js"
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

const Parameters = { input: Schema.String.annotate({ description: "The task or question for the sub-agent." }) }
const Failure = Schema.Struct({ message: Schema.String })

export type SubAgentTool<Name extends string> = Tool.Tool<Name, typeof Parameters, typeof Schema.String, typeof Failure>

export interface AsTool<Name extends string, Tools extends Record<string, Tool.Any>, R = never> {
  readonly tool: SubAgentTool<Name>
  /** A toolkit of just this tool: merge it into the parent's (`Toolkit.merge`). */
  readonly toolkit: Toolkit.Toolkit<{ [K in Name]: SubAgentTool<Name> }>
  /** The tool's handler: runs the sub-agent over the services in context (its model, approvals, store, handlers). */
  readonly layer: Layer.Layer<Tool.Handler<Name>, Loop.LoopError, Loop.Requirements<Tools> | R>
}

/**
 * The sub-agent run of one parent call: `<parentRunId>.<toolCallId>`, or `<parentRunId>.<step>.<toolCallId>`
 * when an earlier step of the parent run already had a call with that id (`repeatedStep`, the handler's
 * `HandlerContext.repeatedStep`); characters a store may refuse become `_`. A call id's first use keeps the
 * plain form, so sub-runs stored before repeated ids were qualified are found again.
 */
export const childRunId = (parentRunId: string, toolCallId: string, repeatedStep?: number): string =>
  CallKey.childRunId(parentRunId, toolCallId, repeatedStep)

/** The text the parent's model gets from a finished sub-agent run. */
const answer = (outcome: Exclude<RunOutcome, { _tag: "Suspended" }>): string =>
  outcome._tag === "Completed"
    ? outcome.output === undefined
      ? outcome.text
      : JSON.stringify(outcome.output)
    : `The sub-agent stopped (${outcome.reason}): ${outcome.detail}${outcome.text.length > 0 ? `\nIts last answer: ${outcome.text}` : ""}`

/**
 * When someone consumes the calling run's events, the sub-agent's run reports to them (as `SubAgentEvent`s,
 * under the consumer's backpressure); otherwise it runs unobserved and nothing is built.
 */
const forwarding = (agent: string, context: Tool.HandlerContext): Loop.Options | undefined => {
  const events = context.events
  if (events === undefined) return undefined
  const caller = { runId: context.runId, step: events.step, toolCallId: context.toolCallId }
  const emit = events.emit
  return {
    onEvent: (event) => emit(AgentEvent.forwarded(caller, agent, event)),
    ...(events.ready === undefined ? {} : { ready: events.ready })
  }
}

/**
 * Resumes the sub-agent's stored run with the decisions on its approvals. After its owner died mid-run (the
 * calling run is being recovered), the sub-agent's state already holds the decisions handed to it then (they
 * are applied again, so they are not given twice), and its lease may outlive the caller's (it renews at its
 * own model steps): wait for it once, bounded by the lease itself.
 */
const resumeStored = (
  runner: Loop.Runner,
  state: RunState,
  decisions: ReadonlyArray<Approval.ApprovalDecision>,
  options: Loop.Options | undefined
) => {
  const fresh = state.decisions === undefined ? decisions : decisions.filter((d) => !state.decisions!.some((held) => held.approvalId === d.approvalId))
  return runner.resume(state.runId, fresh, options).pipe(
    Effect.catchTag("RunBusy", (busy) =>
      busy.leaseExpiresAt === undefined
        ? Effect.fail(busy)
        : Effect.andThen(Effect.sleep(Duration.millis(Math.max(0, busy.leaseExpiresAt - Date.now()) + 1)), runner.resume(state.runId, fresh, options))
    )
  )
}

/**
 * Under a durable `StepRunner` (`@agentloop/workflow`): the sub-agent runs with the step runner and approvals
 * it is given, every time the call runs. Its finished steps come back from the engine's records and its
 * approvals wait in the engine (suspending the calling run), so it never suspends here and needs no store.
 */
const runDurably = <Tools extends Record<string, Tool.Any>, A, R>(
  agent: Agent.Agent<Tools, A, R>,
  services: Context.Context<Loop.Requirements<Tools> | R>,
  sub: StepRunner.SubRun["Service"],
  input: string,
  runId: string,
  options: Loop.Options | undefined
): Effect.Effect<Exclude<RunOutcome, { _tag: "Suspended" }>, Loop.LoopError | { readonly message: string }> =>
  Loop.makeRunner(agent).pipe(
    // A fresh store per sub-run: Effect 4 shares built layers across `provide` calls (the enclosing graph may
    // have built `layerMemory` already), and a replayed sub-run must not find its own earlier run there.
    Effect.provide(RunStore.layerMemory, { local: true }),
    Effect.provideService(StepRunner.StepRunner, sub.stepRunner),
    Effect.provideService(Approval.Approvals, sub.approvals),
    Effect.provide(services),
    Effect.flatMap((runner) => runner.run({ input, runId }, options)),
    Effect.flatMap((outcome) => (outcome._tag === "Suspended" ? Effect.fail({ message: "the sub-agent suspended under a durable run" }) : Effect.succeed(outcome)))
  )

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
      const store = yield* RunStore.RunStore
      const services = yield* Effect.context<Loop.Requirements<Tools> | R>()
      const handler: Tool.AnyHandlerFn = ({ input }: { input: string }, context: Tool.HandlerContext) =>
        Effect.gen(function* () {
          const runId = CallKey.childRunId(context.runId, context.toolCallId, context.repeatedStep)
          const options = forwarding(agent.name, context)
          const durable = yield* Effect.serviceOption(StepRunner.SubRun)
          if (Option.isSome(durable)) return answer(yield* runDurably(agent, services, durable.value, input, runId, options))
          const existing = yield* store.load(runId)
          // Idempotent: a call that runs again (a resume, a recovery) continues the same sub-agent run.
          const outcome: RunOutcome = Option.isNone(existing)
            ? yield* runner.run({ input, runId }, options)
            : existing.value.outcome !== undefined && existing.value.status !== "suspended"
              ? existing.value.outcome
              : yield* resumeStored(runner, existing.value, context.decisions ?? [], options)
          if (outcome._tag !== "Suspended") return answer(outcome)
          if (context.suspend === undefined) return yield* Effect.fail({ message: "the sub-agent needs an approval, but its caller cannot suspend" })
          context.suspend(context.toolCallId, outcome.pending)
          return ""
        }).pipe(Effect.catch((error) => Effect.fail({ message: "message" in (error as object) ? String((error as { message: unknown }).message) : String(error) })))
      return Context.make(toolkit.handlerTag(name as never), handler)
    })
  ) as unknown as AsTool<Name, Tools, R>["layer"]
  return { tool, toolkit, layer }
}
