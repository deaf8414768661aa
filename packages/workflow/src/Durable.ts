/**
 * Durable agent runs on `effect/workflow`. This is the only module that imports it.
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
 *   `DecisionRejected` naming the winner), then completes the deferred.
 * - A sub-agent tool (`Agent.asTool`) runs inside the calling tool activity, its own steps and approvals
 *   named under `sub/<step>/<toolCallId>/` (see `Scope`): its approval suspends this workflow.
 *
 * Engines, behind one Layer choice: `layerMemory` (tests), `layerSqlite({ filename })` (one process, an
 * embedded database it locks), `layerPostgres({ url })` (the same on Postgres) and `layerPostgresCluster`
 * (`effect/cluster` runners sharing Postgres; see docs/durable.md).
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { type Agent, Approval, LanguageModel, Loop, Message, RunState, RunStore, StepRunner, type Tool } from "@agentloop/core"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as NodeCrypto from "@effect/platform-node/NodeCrypto"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Cause, Context, Duration, Effect, Exit, Layer, Option, type Redacted, Schema } from "effect"
import { ClusterWorkflowEngine, RunnerAddress, SingleRunner } from "effect/cluster"
import { SqlClient, type SqlError } from "effect/sql"
import { Activity, DurableDeferred, Workflow, WorkflowEngine } from "effect/workflow"
import * as Inbox from "./ApprovalInbox.js"

const { ApprovalInbox } = Inbox

/** How a run failed, as stored by the engine (any loop error, by tag and message). */
export const RunFailure = Schema.Struct({ _tag: Schema.String, message: Schema.String })
export type RunFailure = typeof RunFailure.Type

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

const approvalDeferred = (step: number, toolCallId: string) =>
  DurableDeferred.make(`approval/${step}/${toolCallId}`, { success: Approval.ApprovalDecision })

/** A sub-agent's approval (see `Scope`): its id is unique in the run, and `decide` finds it in the inbox. */
const nestedApprovalDeferred = (approvalId: string) => DurableDeferred.make(`approval/${approvalId}`, { success: Approval.ApprovalDecision })

/** Not secret (the engine's deferred tokens are not either): deciding must be authorized by the application. */
const approvalIdOf = (runId: string, step: number, toolCallId: string, digest: string) =>
  `apr_${createHash("sha256").update(`${runId}\u0000${step}\u0000${toolCallId}\u0000${digest}`).digest("hex").slice(0, 32)}`

/**
 * What this process's engine is, and which agents it runs (`layer(agent)` adds them). A single-runner
 * engine (memory, SQLite, Postgres) can reach only the agents it runs itself; a cluster reaches every
 * runner's.
 */
export class LocalEngine extends Context.Service<
  LocalEngine,
  { readonly kind: "single-runner" | "cluster"; readonly agents: Set<string> }
>()("@agentloop/workflow/LocalEngine") {}

const localEngine = (kind: "single-runner" | "cluster") => Layer.sync(LocalEngine, () => ({ kind, agents: new Set<string>() }))

/** Registers the agent with this process's engine for as long as the layer lives. */
const registerLocally = (name: string) =>
  Layer.effectDiscard(
    Effect.flatMap(Effect.serviceOption(LocalEngine), (local) =>
      Option.isNone(local)
        ? Effect.void
        : Effect.acquireRelease(Effect.sync(() => local.value.agents.add(name)), () => Effect.sync(() => local.value.agents.delete(name)))
    )
  )

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
interface Scope {
  /** The workflow's run id: approvals of every depth are published under it. */
  readonly runId: string
  /** Prefix of this level's activity names: "" for the workflow's run, `sub/<step>/<call id>/` per sub-agent level. */
  readonly prefix: string
  /** For a sub-agent: the outermost calling step and call, and how this level's tool-call ids read there. */
  readonly outer: { readonly step: number; readonly via: string; readonly lift: (toolCallId: string) => string } | undefined
}

interface Replay {
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

/** The step runner and approvals of one level of a durable run (see `Scope`). */
const durableServices = (replay: Replay, scope: Scope): { readonly stepRunner: StepRunner.Service; readonly approvals: Approval.Service } => {
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
            })
          ).pipe(Effect.orDie)
        })
        // Waits durably: the run suspends here, holding no memory, until a decision is recorded.
        const decision = yield* DurableDeferred.await(outer === undefined ? approvalDeferred(request.step, toolCallId) : nestedApprovalDeferred(approvalId))
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

/** A run's state as the application sees it. */
export type Status =
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "Running" }
  | { readonly _tag: "Suspended"; readonly pending: ReadonlyArray<Approval.PendingApproval> }
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
    const pending = yield* inbox.pending(runId)
    return (pending.length > 0 ? { _tag: "Suspended", pending } : { _tag: "Running" }) as Status
  })

/**
 * Records a decision on a pending approval and wakes the run. The decision must match a pending approval
 * of the run (approval id, tool call, argument digest). Exactly one decision per approval is recorded (one
 * conditional write in the inbox); every other caller gets `DecisionRejected` naming the winner. Repeating
 * the recorded decision itself is accepted and delivers it again (a retry after `EngineTimeout`).
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
    const entry = yield* inbox.find(runId, decision.approvalId)
    const invalid = Approval.validateDecisions(runId, entry === undefined ? yield* inbox.pending(runId) : [entry.pending], [decision])
    if (invalid !== undefined || entry === undefined) {
      const reason = invalid === undefined ? "no approval is pending for this tool call" : invalid._tag === "ApprovalExpired" ? invalid.message : invalid.reason
      return yield* new DecisionRejected({ runId, reason })
    }
    const recorded = yield* inbox.record(runId, decision)
    if (recorded._tag === "NotFound") return yield* new DecisionRejected({ runId, reason: "no approval is pending for this tool call" })
    if (recorded._tag === "Lost") {
      const { approved, decidedBy } = recorded.winner
      return yield* new DecisionRejected({
        runId,
        reason: `already decided: ${approved ? "approved" : "denied"} by ${decidedBy ?? "an unnamed caller"}`,
        winner: decidedBy === undefined ? { approved } : { approved, decidedBy }
      })
    }
    const deferred = entry.pending.via === undefined ? approvalDeferred(entry.pending.step, decision.toolCallId) : nestedApprovalDeferred(entry.pending.approvalId)
    const token = DurableDeferred.tokenFromExecutionId(deferred, { workflow: workflowFor(agent), executionId: yield* executionIdOf(agent, runId) })
    // First write wins in the engine too, so delivering a repeated decision again is harmless.
    yield* DurableDeferred.succeed(deferred, { token, value: decision })
  }).pipe(
    withTimeout("decide", runId, options, "the decision may be recorded but not delivered; call decide again with the same decision to deliver it")
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

// -------------------------------------------------------------------------------------------------------
// Engines

/** In memory: for tests and runs that need not outlive the process. */
export const layerMemory: Layer.Layer<WorkflowEngine.WorkflowEngine | Inbox.ApprovalInbox | LocalEngine> = Layer.mergeAll(
  WorkflowEngine.layerMemory,
  Inbox.layerMemory,
  localEngine("single-runner")
)

export interface SqlOptions {
  /** How often a runner looks for work another process left (e.g. after a crash). Default 1 s. */
  readonly pollInterval?: Duration.Input
}

const onSql = (options: SqlOptions | undefined) =>
  ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(
      SingleRunner.layer({
        runnerStorage: "sql",
        shardingConfig: { entityMessagePollInterval: Duration.fromInputUnsafe(options?.pollInterval ?? "1 second") }
      }).pipe(Layer.provide(NodeCrypto.layerDigest))
    ),
    Layer.provideMerge(Layer.merge(Inbox.layerSql, localEngine("single-runner")))
  )

/**
 * Another process owns the database of a single-runner engine (SQLite file or Postgres database): a second
 * runner would run the same runs again.
 */
export class DatabaseLocked extends Schema.TaggedError<DatabaseLocked>()("DatabaseLocked", {
  /** The SQLite file, or the Postgres database's name. */
  database: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Database ${this.database} is in use by another process: ${this.reason}`
  }
}

/** SQLite's busy error: `effect/sql` classifies SQLITE_BUSY (and SQLITE_LOCKED) as a `LockTimeoutError`. */
const isBusy = (error: SqlError.SqlError) =>
  error.reason._tag === "LockTimeoutError" ||
  /SQLITE_BUSY|database is locked/.test(String(error.reason.cause instanceof Error ? error.reason.cause.message : error.reason.cause))

/**
 * Takes SQLite's own file lock for the life of the connection: `locking_mode = EXCLUSIVE` set before WAL is
 * entered, then a write. The operating system drops the lock when the process exits or dies, so a crashed
 * owner never blocks its successor; a live one makes every other process fail here (after SQLite's 5 s
 * busy wait) with `DatabaseLocked`.
 */
const ownFile = (filename: string) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe("PRAGMA locking_mode = EXCLUSIVE")
      yield* sql.unsafe("PRAGMA journal_mode = WAL")
      yield* sql`CREATE TABLE IF NOT EXISTS agentloop_owner (pid INTEGER NOT NULL, since INTEGER NOT NULL)`
      yield* sql`DELETE FROM agentloop_owner`
      yield* sql`INSERT INTO agentloop_owner (pid, since) VALUES (${process.pid}, ${Date.now()})`
    }).pipe(
      Effect.mapError((error) => (isBusy(error) ? new DatabaseLocked({ database: filename, reason: "its lock is held (SQLITE_BUSY)" }) : error))
    )
  )

/**
 * One machine, an embedded SQLite database: runs survive restarts and crashes. The process locks the file:
 * a second process on the same file fails to start with `DatabaseLocked`.
 */
export const layerSqlite = (options: { readonly filename: string } & SqlOptions) =>
  onSql(options).pipe(
    Layer.provideMerge(ownFile(options.filename).pipe(Layer.provideMerge(SqliteClient.layer({ filename: options.filename, disableWAL: true }))))
  )

/**
 * One runner per Postgres database: a session-level advisory lock (two-key form, apart from the cluster's
 * own locks) on a connection reserved for the life of the layer. Postgres drops it when the session ends,
 * so a killed owner never blocks its successor.
 */
const ownPostgres = Layer.effectDiscard(
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const connection = yield* sql.reserve
    const [row] = yield* connection.execute(
      "SELECT pg_try_advisory_lock(hashtext('agentloop'), hashtext('single-runner')) AS locked, current_database() AS database",
      [],
      undefined
    )
    if (row?.locked !== true) {
      return yield* new DatabaseLocked({ database: String(row?.database), reason: "another single-runner process holds its lock" })
    }
  })
)

/**
 * One machine on Postgres: a single runner, its state in a Postgres database. The process locks the
 * database: a second single-runner process on it fails to start with `DatabaseLocked`.
 */
export const layerPostgres = (options: { readonly url: Redacted.Redacted<string> } & SqlOptions) =>
  onSql(options).pipe(Layer.provideMerge(ownPostgres.pipe(Layer.provideMerge(PgClient.layer({ url: options.url })))))

export interface ClusterOptions extends SqlOptions {
  readonly url: Redacted.Redacted<string>
  /** Where other runners reach this one (default localhost:34431). */
  readonly runnerAddress?: { readonly host: string; readonly port: number }
  /** For processes that start runs and record decisions but run none (an API server): true. */
  readonly clientOnly?: boolean
  readonly shardsPerGroup?: number
  /**
   * How long a runner that stopped heartbeating (killed, partitioned) keeps its shards before the other
   * runners take them over and replay its runs. Default 35 s (`effect/cluster`'s shard lock expiration).
   * Runners heartbeat every third of it, so a smaller value costs more writes and makes a runner behind a
   * slow database lose its shards sooner. Use the same value on every runner.
   */
  readonly failoverAfter?: Duration.Input
}

/**
 * Many machines: `effect/cluster` runners sharing a Postgres database. Runs are sharded by run id over the
 * runners; when a runner dies, its shards move to the others (after `failoverAfter`) and its runs replay
 * there from Postgres.
 */
export const layerPostgresCluster = (options: ClusterOptions) => {
  const failoverAfter = Duration.fromInputUnsafe(options.failoverAfter ?? "35 seconds")
  return ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(
      NodeClusterSocket.layer({
        storage: "sql",
        clientOnly: options.clientOnly ?? false,
        shardingConfig: {
          entityMessagePollInterval: Duration.fromInputUnsafe(options.pollInterval ?? "1 second"),
          shardLockExpiration: failoverAfter,
          shardLockRefreshInterval: Duration.divide(failoverAfter, 3).pipe(Option.getOrElse(() => failoverAfter)),
          runnerHealthCheckInterval: failoverAfter,
          ...(options.runnerAddress === undefined
            ? {}
            : { runnerAddress: Option.some(RunnerAddress.make(options.runnerAddress.host, options.runnerAddress.port)) }),
          ...(options.shardsPerGroup === undefined ? {} : { shardsPerGroup: options.shardsPerGroup })
        }
      })
    ),
    Layer.provideMerge(Layer.merge(Inbox.layerSql, localEngine("cluster"))),
    Layer.provideMerge(PgClient.layer({ url: options.url }))
  )
}
