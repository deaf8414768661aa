/**
 * Durable agent runs on `effect/workflow`: the API. How a run's steps become activities and deferreds is in
 * `internal/steps.ts`, the engines in `internal/engines.ts` (the single-runner one in `internal/sqlEngine.ts`).
 *
 * - A run is a `Workflow` keyed by its run id.
 * - Each model step is an `Activity` named `model/<turn>`, each tool call an `Activity` named
 *   `tool/<step>/<toolCallId>` (the step too: providers reuse ids across steps): their results are stored, so
 *   a replay (after a crash, or when an approval arrives) never runs a finished step again. Tools get core's
 *   idempotency key (`<runId>:<toolCallId>`, `<runId>:<step>:<toolCallId>` for an id an earlier step used),
 *   the same on every attempt, for the rare call that a crash interrupts and the engine runs again.
 * - Each approval is a `DurableDeferred` named `approval/<step>/<toolCallId>`. The run publishes the pending
 *   approval (to the `ApprovalInbox`) and waits without holding memory. `decide` records a decision in the
 *   inbox with one conditional write (exactly one decision per approval wins; every other caller gets
 *   `DecisionRejected` naming the winner), then completes the deferred. The run takes its decision from the
 *   inbox first, so a decider that dies between the two writes loses nothing (see `decide`).
 * - A sub-agent tool (`Agent.asTool`) runs inside the calling tool activity, its own steps and approvals
 *   named under `sub/<step>/<toolCallId>/` (see `Scope`): its approval suspends this workflow.
 *
 * Engines, behind one Layer choice: `layerMemory` (tests), `layerSqlite({ filename })` (one process, an
 * embedded database it locks), `layerPostgres({ url })` (the same on Postgres), both on this package's
 * engine, and `layerPostgresCluster` (`effect/cluster` runners sharing Postgres; see docs/durable.md).
 *
 * @since 0.1.0
 */
import { type Agent, Approval, Loop, Message, RunState, RunStore, StepRunner, type Tool } from "@agentloop/core"
import { Cause, Context, Duration, Effect, Exit, Layer, Option, Schema } from "effect"
import { DurableDeferred, Workflow, WorkflowEngine } from "effect/workflow"
import * as Inbox from "./ApprovalInbox.js"
import { LocalEngine, registerLocally } from "./internal/engines.js"
import { approvalDeferred, durableServices, nestedApprovalDeferred } from "./internal/steps.js"

export {
  type ClusterOptions,
  DatabaseLocked,
  layerMemory,
  layerPostgres,
  layerPostgresCluster,
  layerSqlite,
  LocalEngine,
  type SqlOptions
} from "./internal/engines.js"

const { ApprovalInbox } = Inbox

/** How a run failed, as stored by the engine (any loop error, by tag and message). */
export const RunFailure = Schema.Struct({ _tag: Schema.String, message: Schema.String })
export type RunFailure = typeof RunFailure.Type

const Payload = { runId: Schema.String, input: Schema.Array(Message.Message) }

const workflows = new WeakMap<Agent.Any, ReturnType<typeof makeWorkflow>>()

const makeWorkflow = (name: string) =>
  Workflow.make(`agentloop/${name}`, {
    payload: Payload,
    success: RunState.RunOutcome,
    error: RunFailure,
    idempotencyKey: ({ runId }) => runId
  })

/** The workflow of an agent (one per agent definition; its name is `agentloop/<agent name>`). */
export const workflowFor = <Tools extends Record<string, Tool.Any>, A, R>(agent: Agent.Agent<Tools, A, R>) => {
  let workflow = workflows.get(agent as unknown as Agent.Any)
  if (workflow === undefined) {
    workflow = makeWorkflow(agent.name)
    workflows.set(agent as unknown as Agent.Any, workflow)
  }
  return workflow
}

/**
 * Registers an agent's workflow with the engine. Needs the agent's model and tool handlers, the engine and
 * the inbox (the presets provide both). Rules and tool choice are checked when the layer is built
 * (`InvalidToolRules`, `InvalidToolChoice`), as for the local backend.
 */
export const layer = <Tools extends Record<string, Tool.Any>, A, R>(agent: Agent.Agent<Tools, A, R>) =>
  Layer.mergeAll(Layer.effectDiscard(Loop.validateAgent(agent)), registerLocally(agent.name), workflowLayer(agent))

const workflowLayer = <Tools extends Record<string, Tool.Any>, A, R>(agent: Agent.Agent<Tools, A, R>) =>
  workflowFor(agent).toLayer((payload) =>
    Effect.gen(function* () {
      const engine = yield* Effect.context<WorkflowEngine.WorkflowEngine | WorkflowEngine.WorkflowInstance>()
      const inbox = yield* ApprovalInbox
      // A provider may send the same id twice in one step: the second is `tool/<step>/<id>#2`. Each replay
      // runs this body afresh and meets the calls in the same order, so the names are the same every time.
      const seen = new Map<string, number>()
      const activityName = (base: string) => {
        const n = (seen.get(base) ?? 0) + 1
        seen.set(base, n)
        return n === 1 ? base : `${base}#${n}`
      }
      const { approvals, stepRunner } = durableServices({ engine, inbox, activityName }, { runId: payload.runId, prefix: "", outer: undefined })
      return yield* Loop.run(agent, { runId: payload.runId, input: payload.input }).pipe(
        Effect.provideService(StepRunner.StepRunner, stepRunner),
        Effect.provideService(Approval.Approvals, approvals),
        // The engine is the durable store; the loop's own store lives only as long as this replay (`local`:
        // Effect 4 shares built layers across `provide` calls, which would hand every replay and run one store).
        Effect.provide(RunStore.layerMemory, { local: true }),
        Effect.mapError((error): RunFailure => ({ _tag: error._tag, message: error.message }))
      )
    })
  )

/**
 * A decision recorded for a run that the run has not taken yet: the decider stopped between recording it
 * and delivering it (or the delivery is under way). Runners deliver it on their own (every fifth
 * `pollInterval`); calling `decide` again for this approval, from any process, delivers it at once.
 */
export interface Undelivered {
  readonly pending: Approval.PendingApproval
  readonly decision: Approval.ApprovalDecision
}

/** A run's state as the application sees it. */
export type Status =
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "Running"; readonly undelivered: ReadonlyArray<Undelivered> }
  | { readonly _tag: "Suspended"; readonly pending: ReadonlyArray<Approval.PendingApproval>; readonly undelivered: ReadonlyArray<Undelivered> }
  | { readonly _tag: "Completed"; readonly outcome: RunState.RunOutcome }
  | { readonly _tag: "Failed"; readonly error: RunFailure | string }

/** A decision that was not recorded: it does not match a pending approval, or another decision won. */
export class DecisionRejected extends Schema.TaggedError<DecisionRejected>()("DecisionRejected", {
  runId: Schema.String,
  reason: Schema.String,
  /** When another decision won: who gave it (`decidedBy`, when it named someone) and what it was. */
  winner: Schema.optional(Schema.Struct({ approved: Schema.Boolean, decidedBy: Schema.optional(Schema.String) }))
}) {
  override get message(): string {
    return `Decision for run ${this.runId} rejected: ${this.reason}`
  }
}

/**
 * This process cannot reach an engine that runs the agent: its engine is a single runner (memory, SQLite,
 * Postgres) and `Durable.layer(agent)` is not provided here. Call from the process that runs the agent,
 * or use a cluster (where any process reaches the runners).
 */
export class EngineUnavailable extends Schema.TaggedError<EngineUnavailable>()("EngineUnavailable", {
  agent: Schema.String,
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Cannot ${this.operation} for agent ${this.agent}: ${this.reason}`
  }
}

/** A call to the engine did not finish within its timeout (the engine, or the runner it needs, is unreachable or busy). */
export class EngineTimeout extends Schema.TaggedError<EngineTimeout>()("EngineTimeout", {
  operation: Schema.String,
  runId: Schema.String,
  timeoutMillis: Schema.Number,
  hint: Schema.String
}) {
  override get message(): string {
    return `${this.operation} for run ${this.runId} did not finish within ${this.timeoutMillis} ms: ${this.hint}`
  }
}

/** Every call that may cross processes takes a timeout (default 30 s) and fails with `EngineTimeout` after it. */
export interface CallOptions {
  readonly timeout?: Duration.Input
}

const withTimeout =
  (operation: string, runId: string, options: CallOptions | undefined, hint = "is a runner that runs this agent up and reachable?") =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | EngineTimeout, R> => {
    const timeout = Duration.fromInputUnsafe(options?.timeout ?? "30 seconds")
    return Effect.timeoutOrElse(self, {
      duration: timeout,
      orElse: () => Effect.fail(new EngineTimeout({ operation, runId, timeoutMillis: Duration.toMillis(timeout), hint }))
    })
  }

/** Fails at once where waiting could only hang: a single-runner engine that does not run the agent. */
const ensureReachable = <Tools extends Record<string, Tool.Any>, A, R>(agent: Agent.Agent<Tools, A, R>, operation: string) =>
  Effect.flatMap(Effect.serviceOption(LocalEngine), (local) =>
    Option.isSome(local) && local.value.kind === "single-runner" && !local.value.agents.has(agent.name)
      ? Effect.fail(
          new EngineUnavailable({
            agent: agent.name,
            operation,
            reason: "this process's engine is a single runner that does not run this agent (provide Durable.layer(agent) here, or call from the process that does)"
          })
        )
      : Effect.void
  )

const executionIdOf = <Tools extends Record<string, Tool.Any>, A, R>(agent: Agent.Agent<Tools, A, R>, runId: string) =>
  workflowFor(agent).executionId({ runId, input: [] })

/** Starts a run and returns at once (the run goes on in the engine). Starting the same run id again is a no-op. */
export const start = <Tools extends Record<string, Tool.Any>, A, R>(
  agent: Agent.Agent<Tools, A, R>,
  input: { readonly runId: string; readonly input: string | ReadonlyArray<Message.Message> },
  options?: CallOptions
) =>
  ensureReachable(agent, "start a run").pipe(
    Effect.andThen(
      workflowFor(agent).execute(
        { runId: input.runId, input: typeof input.input === "string" ? [Message.user(input.input)] : input.input },
        { discard: true }
      )
    ),
    withTimeout("start", input.runId, options)
  )

/**
 * Where a run is: running, waiting for approvals (which), completed (with its outcome) or failed. An
 * approval leaves `pending` in the same write that records its decision.
 */
export const status = <Tools extends Record<string, Tool.Any>, A, R>(agent: Agent.Agent<Tools, A, R>, runId: string, options?: CallOptions) =>
  statusOf(agent, runId).pipe(withTimeout("status", runId, options, "is the database reachable?"))

const statusOf = <Tools extends Record<string, Tool.Any>, A, R>(agent: Agent.Agent<Tools, A, R>, runId: string) =>
  Effect.gen(function* () {
    const inbox = yield* ApprovalInbox
    const result = yield* workflowFor(agent).poll(yield* executionIdOf(agent, runId))
    if (Option.isNone(result)) return { _tag: "NotFound" } as Status
    if (result.value._tag === "Complete") {
      return Exit.match(result.value.exit, {
        onSuccess: (outcome): Status => ({ _tag: "Completed", outcome }),
        onFailure: (cause): Status => ({ _tag: "Failed", error: Option.getOrUndefined(Cause.findErrorOption(cause)) ?? Cause.pretty(cause) })
      })
    }
    // One read for both lists: undecided approvals, and decisions the run has not taken yet.
    const open = yield* inbox.open(runId)
    const pending = open.flatMap((e) => (e.decision === undefined ? [e.pending] : []))
    const undelivered = open.flatMap((e): Array<Undelivered> => (e.decision === undefined ? [] : [{ pending: e.pending, decision: e.decision }]))
    return (pending.length > 0 ? { _tag: "Suspended", pending, undelivered } : { _tag: "Running", undelivered }) as Status
  })

/** The points inside `decide`, in order (see `DecideHook`). */
export type DecidePoint =
  /** The decision is checked; nothing is written yet. */
  | "validated"
  /** The inbox holds the decision; the engine does not yet (the run has not been woken). */
  | "recorded"
  /** The engine holds it too: the run wakes; `decide` is about to return. */
  | "delivered"

/**
 * Called at each point inside `decide` (no-op by default). For fault-injection tests: the cross-process
 * tests provide one that SIGKILLs the deciding process at a chosen point, to show that no point loses the
 * decision.
 */
export const DecideHook = Context.Reference<(point: DecidePoint, runId: string) => Effect.Effect<void>>("@agentloop/workflow/Durable/DecideHook", {
  defaultValue: () => () => Effect.void
})

/**
 * Records a decision on a pending approval and wakes the run. The decision must match a pending approval
 * of the run (approval id, tool call, argument digest). Exactly one decision per approval is recorded (one
 * conditional write in the inbox); every other caller gets `DecisionRejected` naming the winner.
 *
 * Two writes: the inbox records the decision, then the engine's durable deferred wakes the run. A decider
 * that dies between them loses nothing: the run takes its decision from the inbox when it replays, runners
 * deliver recorded decisions that were not delivered (`Status.undelivered`), and any later `decide` on the
 * approval (the same decision, or another one that is then rejected) delivers the recorded one first.
 *
 * Single-runner engines: call it where `Durable.layer(agent)` runs, else `EngineUnavailable` at once. A
 * cluster: any process (runner or `clientOnly`).
 */
export const decide = <Tools extends Record<string, Tool.Any>, A, R>(
  agent: Agent.Agent<Tools, A, R>,
  runId: string,
  decision: Approval.ApprovalDecision,
  options?: CallOptions
) =>
  Effect.gen(function* () {
    yield* ensureReachable(agent, "decide")
    const inbox = yield* ApprovalInbox
    const hook = yield* DecideHook
    const entry = yield* inbox.find(runId, decision.approvalId)
    const invalid = Approval.validateDecisions(runId, entry === undefined ? yield* inbox.pending(runId) : [entry.pending], [decision])
    if (invalid !== undefined || entry === undefined) {
      const reason = invalid === undefined ? "no approval is pending for this tool call" : invalid._tag === "ApprovalExpired" ? invalid.message : invalid.reason
      return yield* new DecisionRejected({ runId, reason })
    }
    yield* hook("validated", runId)
    const recorded = yield* inbox.record(runId, decision)
    yield* hook("recorded", runId)
    if (recorded._tag === "NotFound") return yield* new DecisionRejected({ runId, reason: "no approval is pending for this tool call" })
    // Whoever calls finishes a delivery an earlier caller did not: the recorded decision, never this one
    // when it lost. The engine keeps the first value, so delivering again is harmless.
    if (recorded._tag !== "Lost" || !entry.delivered) {
      const deferred = entry.pending.via === undefined ? approvalDeferred(entry.pending.step, entry.pending.toolCallId) : nestedApprovalDeferred(entry.pending.approvalId)
      const token = DurableDeferred.tokenFromExecutionId(deferred, { workflow: workflowFor(agent), executionId: yield* executionIdOf(agent, runId) })
      yield* DurableDeferred.succeed(deferred, { token, value: recorded._tag === "Lost" ? recorded.winner : decision })
      yield* hook("delivered", runId)
    }
    if (recorded._tag === "Lost") {
      const { approved, decidedBy } = recorded.winner
      return yield* new DecisionRejected({
        runId,
        reason: `already decided: ${approved ? "approved" : "denied"} by ${decidedBy ?? "an unnamed caller"}`,
        winner: decidedBy === undefined ? { approved } : { approved, decidedBy }
      })
    }
  }).pipe(
    withTimeout("decide", runId, options, "the decision may be recorded but not delivered; runners deliver it on their own, or call decide again to deliver it")
  )

/** Waits until the run completes or fails (polling), or until it waits for approvals. Default timeout 60 s. */
export const awaitSettled = <Tools extends Record<string, Tool.Any>, A, R>(
  agent: Agent.Agent<Tools, A, R>,
  runId: string,
  options?: { readonly every?: Duration.Input; readonly timeout?: Duration.Input }
): Effect.Effect<Status, EngineTimeout | Inbox.InboxError, WorkflowEngine.WorkflowEngine | Inbox.ApprovalInbox> => {
  const poll: Effect.Effect<Status, Inbox.InboxError, WorkflowEngine.WorkflowEngine | Inbox.ApprovalInbox> = Effect.flatMap(
    statusOf(agent, runId),
    (s) => (s._tag === "Completed" || s._tag === "Failed" || s._tag === "Suspended" ? Effect.succeed(s) : Effect.andThen(Effect.sleep(options?.every ?? "50 millis"), poll))
  )
  return poll.pipe(withTimeout("awaitSettled", runId, { timeout: options?.timeout ?? "60 seconds" }, "the run has not completed, failed or suspended yet"))
}

