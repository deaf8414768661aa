/**
 * One level of a durable run (the workflow's own run, or a sub-agent call inside it): the `StepRunner` whose
 * model steps and tool calls are activities, and the `Approvals` whose approvals are durable deferreds
 * backed by the inbox. See `Durable` for the names.
 */
import { createHash } from "node:crypto"
import { Approval, LanguageModel, StepRunner } from "@agentloop/core"
import { Context, Effect, Option, Schedule, Schema } from "effect"
import { Activity, DurableDeferred, WorkflowEngine } from "effect/workflow"
import * as Inbox from "../ApprovalInbox.js"

const ModelFailure = Schema.Struct({
  message: Schema.String,
  retryable: Schema.Boolean,
  provider: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  reason: Schema.optional(LanguageModel.ModelErrorReason)
})

/** A model error's fields as the activity records them (and as the error is made again on replay). */
const modelFailureOf = (e: typeof ModelFailure.Type) => ({
  message: e.message,
  retryable: e.retryable,
  ...(e.provider === undefined ? {} : { provider: e.provider }),
  ...(e.status === undefined ? {} : { status: e.status }),
  ...(e.reason === undefined ? {} : { reason: e.reason })
})

/** The workflow's own approval of step `step`, call `toolCallId`. */
export const approvalDeferred = (step: number, toolCallId: string) =>
  DurableDeferred.make(`approval/${step}/${toolCallId}`, { success: Approval.ApprovalDecision })

/** A sub-agent's approval (see `Scope`): its id is unique in the run, and `decide` finds it in the inbox. */
export const nestedApprovalDeferred = (approvalId: string) => DurableDeferred.make(`approval/${approvalId}`, { success: Approval.ApprovalDecision })

/** Delivers to the deferred a token names (the token carries the name; this gives the value's schema). */
export const anyApprovalDeferred = DurableDeferred.make("approval", { success: Approval.ApprovalDecision })

/** Not secret (the engine's deferred tokens are not either): deciding must be authorized by the application. */
const approvalIdOf = (runId: string, step: number, toolCallId: string, digest: string) =>
  `apr_${createHash("sha256").update(`${runId}\u0000${step}\u0000${toolCallId}\u0000${digest}`).digest("hex").slice(0, 32)}`

/**
 * Where a run's steps are keyed in its workflow: the workflow's own run (prefix ""), or a sub-agent call
 * inside it, at any depth.
 *
 * Why sub-agents run this way: a sub-agent call (`SubAgent.asTool`) is one tool-call activity of the calling
 * run, and the sub-agent's own model steps, tool calls and approvals run inside it as activities and deferreds
 * of the same workflow, named under `sub/<step>/<call id>/`. A sub-agent approval then suspends the whole
 * workflow (the calling activity has no result yet, so a replay runs it again, and the sub-agent's finished
 * steps come back from the engine's records); its pending approval is published under the workflow's run id
 * with the lifted tool-call id and `via`, so `decide` on the calling run reaches it. Once the sub-agent
 * answers, the calling activity's result is stored and a later replay does not enter the sub-agent at all.
 * Keeping the sub-agent's state in activity results instead (one activity per sub-run) could not suspend
 * mid-run without storing a second copy of the sub-run's state beside the engine's.
 */
export interface Scope {
  /** The workflow's run id: approvals of every depth are published under it. */
  readonly runId: string
  /** Prefix of this level's activity names: "" for the workflow's run, `sub/<step>/<call id>/` per sub-agent level. */
  readonly prefix: string
  /** For a sub-agent: the outermost calling step and call, and how this level's tool-call ids read there. */
  readonly outer: { readonly step: number; readonly via: string; readonly lift: (toolCallId: string) => string } | undefined
}

export interface Replay {
  readonly engine: Context.Context<WorkflowEngine.WorkflowEngine | WorkflowEngine.WorkflowInstance>
  readonly inbox: Inbox.Service
  readonly activityName: (base: string) => string
}

/** The sub-agent level under a call of `scope` (see `Scope`). */
const subScope = (scope: Scope, step: number, toolCallId: string): Scope => ({
  runId: scope.runId,
  prefix: `${scope.prefix}sub/${step}/${toolCallId}/`,
  outer:
    scope.outer === undefined
      ? { step, via: toolCallId, lift: (id) => `${toolCallId}/${id}` }
      : { step: scope.outer.step, via: scope.outer.via, lift: (id) => scope.outer!.lift(`${toolCallId}/${id}`) }
})

/** The inbox from inside a workflow body: a database blip is retried, then the replay dies (the engine runs it again). */
const steady = <A>(effect: Effect.Effect<A, Inbox.InboxError>) =>
  effect.pipe(Effect.retry({ times: 5, schedule: Schedule.exponential("100 millis") }), Effect.orDie)

/**
 * The decision of an approval, from the inbox first: a decision `decide` recorded is taken even when its
 * delivery to the deferred never happened (the decider died between the two writes), so a replay that
 * reaches this approval never waits for a decision that exists. Without one it waits on the deferred (the
 * run suspends). A value that reached the deferred around `decide` is recorded in the inbox before it is
 * used, so every later replay takes the same decision. Taking a decision marks it delivered.
 */
const takeDecision = (inbox: Inbox.Service, runId: string, approvalId: string, deferred: ReturnType<typeof approvalDeferred>) =>
  Effect.gen(function* () {
    const entry = yield* steady(inbox.find(runId, approvalId))
    if (entry?.decision !== undefined) {
      if (!entry.delivered) yield* steady(inbox.markDelivered(runId, approvalId))
      return entry.decision
    }
    const awaited = yield* DurableDeferred.await(deferred)
    // Another approval's id is refused by the caller's check; it must not be recorded there.
    if (awaited.approvalId !== approvalId) return awaited
    const recorded = yield* steady(inbox.record(runId, awaited))
    yield* steady(inbox.markDelivered(runId, approvalId))
    return recorded._tag === "Lost" ? recorded.winner : awaited
  })

/** The step runner and approvals of one level of a durable run (see `Scope`). */
export const durableServices = (replay: Replay, scope: Scope): { readonly stepRunner: StepRunner.Service; readonly approvals: Approval.Service } => {
  const { engine, inbox, activityName } = replay
  // The instance in context, not the one captured: inside a sub-agent call it is the calling activity's,
  // which is how the engine tells a suspension inside that activity from one of the workflow.
  const inWorkflow = <A, E>(effect: Effect.Effect<A, E, WorkflowEngine.WorkflowEngine | WorkflowEngine.WorkflowInstance>): Effect.Effect<A, E> =>
    Effect.flatMap(Effect.serviceOption(WorkflowEngine.WorkflowInstance), (instance) =>
      Effect.provide(effect, Option.isSome(instance) ? Context.add(engine, WorkflowEngine.WorkflowInstance, instance.value) : engine)
    )
  const stepRunner: StepRunner.Service = {
    modelStep: (turn, step) =>
      Activity.make({
        name: `${scope.prefix}model/${turn}`,
        success: StepRunner.StepResponseSchema,
        error: ModelFailure,
        execute: Effect.mapError(step, modelFailureOf)
      }).pipe(
        Effect.mapError((e) => new LanguageModel.ModelError(modelFailureOf(e))),
        inWorkflow
      ),
    toolCall: (step, toolCallId, call) =>
      Activity.make({
        name: activityName(`${scope.prefix}tool/${step}/${toolCallId}`),
        success: StepRunner.ExecutionSchema,
        // A sub-agent called here runs its own steps one level down (made only when a tool asks for it).
        execute: Effect.provideServiceEffect(call, StepRunner.SubRun, Effect.sync(() => durableServices(replay, subScope(scope, step, toolCallId))))
      }).pipe(inWorkflow)
  }

  const approvals: Approval.Service = {
    decide: (request) =>
      Effect.gen(function* () {
        const outer = scope.outer
        // The workflow's own approvals keep their names; a sub-agent's are keyed by approval id (unique per level).
        const toolCallId = outer === undefined ? request.toolCallId : outer.lift(request.toolCallId)
        const approvalId =
          outer === undefined
            ? approvalIdOf(scope.runId, request.step, request.toolCallId, request.argumentsDigest)
            : approvalIdOf(scope.runId, outer.step, `${scope.prefix}${request.step}/${request.toolCallId}`, request.argumentsDigest)
        const deferred = outer === undefined ? approvalDeferred(request.step, toolCallId) : nestedApprovalDeferred(approvalId)
        const token = yield* DurableDeferred.token(deferred)
        yield* Activity.make({
          name: `${scope.prefix}approval-request/${request.step}/${request.toolCallId}`,
          execute: inbox.publish(
            new Approval.PendingApproval({
              approvalId,
              runId: scope.runId,
              toolCallId,
              toolName: request.toolName,
              arguments: request.arguments,
              argumentsDigest: request.argumentsDigest,
              step: outer === undefined ? request.step : outer.step,
              requestedAt: Date.now(),
              ...(outer === undefined ? {} : { via: outer.via }),
              ...(request.agent === undefined ? {} : { agent: request.agent })
            }),
            token
          ).pipe(Effect.orDie)
        })
        // Waits durably: the run suspends here, holding no memory, until a decision is recorded.
        const decision = yield* takeDecision(inbox, scope.runId, approvalId, deferred)
        if (decision.toolCallId !== toolCallId || decision.approvalId !== approvalId || decision.argumentsDigest !== request.argumentsDigest) {
          return Approval.Verdict.denied("the decision does not match this run, tool call and arguments", { by: "agentloop" })
        }
        const by = decision.decidedBy === undefined ? {} : { by: decision.decidedBy }
        return decision.approved
          ? Approval.Verdict.approved({ ...by, ...(decision.reason === undefined ? {} : { reason: decision.reason }) })
          : Approval.Verdict.denied(decision.reason ?? "denied", by)
      }).pipe(inWorkflow)
  }
  return { stepRunner, approvals }
}
