/**
 * Durable agent runs on `@effect/workflow`. This is the only module that imports it (the Effect 4 move,
 * where workflow lives in `effect` itself, will touch only this file).
 *
 * - A run is a `Workflow` keyed by its run id.
 * - Each model step is an `Activity` named `model/<turn>`, each tool call an `Activity` named
 *   `tool/<toolCallId>`: their results are stored, so a replay (after a crash, or when an approval arrives)
 *   never runs a finished step again. Tools get the idempotency key `<runId>:<toolCallId>`, the same on
 *   every attempt, for the rare call that a crash interrupts and the engine runs again.
 * - Each approval is a `DurableDeferred` named `approval/<toolCallId>`. The run publishes the pending
 *   approval (to the `ApprovalInbox`) and waits without holding memory; any process can decide. A decision
 *   is checked against the run, the tool call and the digest of the arguments; the first decision wins and
 *   a contradicting second one is ignored.
 *
 * Engines, behind one Layer choice: `layerMemory` (tests), `layerSqlite({ filename })` (one process, an
 * embedded database) and `layerPostgres({ url })` (the same on Postgres, which is what `@effect/cluster`
 * runners share when a deployment outgrows one machine; see docs/durable.md).
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { type Agent, Approval, LanguageModel, Loop, Message, RunState, RunStore, StepRunner, type Tool } from "@agentloop/core"
import { ClusterWorkflowEngine, RunnerAddress, SingleRunner } from "@effect/cluster"
import { NodeClusterSocket } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Activity, DurableDeferred, Workflow, WorkflowEngine } from "@effect/workflow"
import { Cause, Data, Duration, Effect, Exit, Layer, Option, type Redacted, Schema } from "effect"
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

const Payload = { runId: Schema.String, input: Schema.Array(Message.Message) }

const workflows = new WeakMap<Agent.Any, ReturnType<typeof makeWorkflow>>()

const makeWorkflow = (name: string) =>
  Workflow.make({
    name: `agentloop/${name}`,
    payload: Payload,
    success: RunState.RunOutcome,
    error: RunFailure,
    idempotencyKey: ({ runId }) => runId
  })

/** The workflow of an agent (one per agent definition; its name is `agentloop/<agent name>`). */
export const workflowFor = <Tools extends Record<string, Tool.Any>>(agent: Agent.Agent<Tools>) => {
  let workflow = workflows.get(agent as unknown as Agent.Any)
  if (workflow === undefined) {
    workflow = makeWorkflow(agent.name)
    workflows.set(agent as unknown as Agent.Any, workflow)
  }
  return workflow
}

const approvalDeferred = (toolCallId: string) => DurableDeferred.make(`approval/${toolCallId}`, { success: Approval.ApprovalDecision })

/** Not secret (the engine's deferred tokens are not either): deciding must be authorized by the application. */
const approvalIdOf = (runId: string, toolCallId: string, digest: string) =>
  `apr_${createHash("sha256").update(`${runId}\u0000${toolCallId}\u0000${digest}`).digest("hex").slice(0, 32)}`

/**
 * Registers an agent's workflow with the engine. Needs the agent's model and tool handlers, the engine and
 * the inbox (the presets provide both). Rules and tool choice are checked when the layer is built
 * (`InvalidToolRules`, `InvalidToolChoice`), as for the local backend.
 */
export const layer = <Tools extends Record<string, Tool.Any>>(agent: Agent.Agent<Tools>) =>
  Layer.merge(Layer.effectDiscard(Loop.validateAgent(agent)), registration(agent))

const registration = <Tools extends Record<string, Tool.Any>>(agent: Agent.Agent<Tools>) =>
  workflowFor(agent).toLayer((payload) =>
    Effect.gen(function* () {
      const engine = yield* Effect.context<WorkflowEngine.WorkflowEngine | WorkflowEngine.WorkflowInstance>()
      const inbox = yield* ApprovalInbox

      const stepRunner: StepRunner.Service = {
        modelStep: (turn, step) =>
          Activity.make({
            name: `model/${turn}`,
            success: StepRunner.StepResponseSchema,
            error: ModelFailure,
            execute: Effect.mapError(step, (e) => ({
              message: e.message,
              retryable: e.retryable,
              ...(e.provider === undefined ? {} : { provider: e.provider }),
              ...(e.status === undefined ? {} : { status: e.status }),
              ...(e.reason === undefined ? {} : { reason: e.reason })
            }))
          }).pipe(
            Effect.mapError(
              (e) =>
                new LanguageModel.ModelError({
                  message: e.message,
                  retryable: e.retryable,
                  ...(e.provider === undefined ? {} : { provider: e.provider }),
                  ...(e.status === undefined ? {} : { status: e.status }),
                  ...(e.reason === undefined ? {} : { reason: e.reason })
                })
            ),
            Effect.provide(engine)
          ),
        toolCall: (toolCallId, call) =>
          Activity.make({ name: `tool/${toolCallId}`, success: StepRunner.ExecutionSchema, execute: call }).pipe(Effect.provide(engine))
      }

      const approvals: Approval.Service = {
        decide: (request) =>
          Effect.gen(function* () {
            const approvalId = approvalIdOf(request.runId, request.toolCallId, request.argumentsDigest)
            yield* Activity.make({
              name: `approval-request/${request.toolCallId}`,
              execute: inbox.publish(
                new Approval.PendingApproval({
                  approvalId,
                  runId: request.runId,
                  toolCallId: request.toolCallId,
                  toolName: request.toolName,
                  arguments: request.arguments,
                  argumentsDigest: request.argumentsDigest,
                  step: request.step,
                  requestedAt: Date.now()
                })
              ).pipe(Effect.orDie)
            })
            // Waits durably: the run suspends here, holding no memory, until a decision is recorded.
            const decision = yield* DurableDeferred.await(approvalDeferred(request.toolCallId))
            if (decision.toolCallId !== request.toolCallId || decision.approvalId !== approvalId || decision.argumentsDigest !== request.argumentsDigest) {
              return Approval.Verdict.denied("the decision does not match this run, tool call and arguments", { by: "agentloop" })
            }
            const by = decision.decidedBy === undefined ? {} : { by: decision.decidedBy }
            return decision.approved
              ? Approval.Verdict.approved({ ...by, ...(decision.reason === undefined ? {} : { reason: decision.reason }) })
              : Approval.Verdict.denied(decision.reason ?? "denied", by)
          }).pipe(Effect.provide(engine))
      }

      return yield* Loop.run(agent, { runId: payload.runId, input: payload.input }).pipe(
        Effect.provideService(StepRunner.StepRunner, stepRunner),
        Effect.provideService(Approval.Approvals, approvals),
        // The engine is the durable store; the loop's own store lives only as long as this replay.
        Effect.provide(RunStore.layerMemory),
        Effect.mapError((error): RunFailure => ({ _tag: error._tag, message: error.message }))
      )
    })
  )

/** A run's state as the application sees it. */
export type Status =
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "Running" }
  | { readonly _tag: "Suspended"; readonly pending: ReadonlyArray<Approval.PendingApproval> }
  | { readonly _tag: "Completed"; readonly outcome: RunState.RunOutcome }
  | { readonly _tag: "Failed"; readonly error: RunFailure | string }

const executionIdOf = <Tools extends Record<string, Tool.Any>>(agent: Agent.Agent<Tools>, runId: string) =>
  workflowFor(agent).executionId({ runId, input: [] })

/** Starts a run and returns at once (the run goes on in the engine). Starting the same run id again is a no-op. */
export const start = <Tools extends Record<string, Tool.Any>>(
  agent: Agent.Agent<Tools>,
  input: { readonly runId: string; readonly input: string | ReadonlyArray<Message.Message> }
) =>
  workflowFor(agent).execute(
    { runId: input.runId, input: typeof input.input === "string" ? [Message.user(input.input)] : input.input },
    { discard: true }
  )

/** Where a run is: running, waiting for approvals (which), completed (with its outcome) or failed. */
export const status = <Tools extends Record<string, Tool.Any>>(agent: Agent.Agent<Tools>, runId: string) =>
  Effect.gen(function* () {
    const inbox = yield* ApprovalInbox
    const result = yield* workflowFor(agent).poll(yield* executionIdOf(agent, runId))
    if (result === undefined) return { _tag: "NotFound" } as Status
    if (result._tag === "Complete") {
      return Exit.match(result.exit, {
        onSuccess: (outcome): Status => ({ _tag: "Completed", outcome }),
        onFailure: (cause): Status => ({ _tag: "Failed", error: Option.getOrUndefined(Cause.failureOption(cause)) ?? Cause.pretty(cause) })
      })
    }
    const pending = yield* inbox.pending(runId)
    return (pending.length > 0 ? { _tag: "Suspended", pending } : { _tag: "Running" }) as Status
  })

export class DecisionRejected extends Data.TaggedError("DecisionRejected")<{ readonly runId: string; readonly reason: string }> {
  override get message(): string {
    return `Decision for run ${this.runId} rejected: ${this.reason}`
  }
}

/**
 * Records a decision on a pending approval. It must match a pending approval of the run (approval id,
 * tool call, argument digest). The first decision wins; a later one for the same call is rejected here
 * and, were it to reach the engine, ignored there.
 */
export const decide = <Tools extends Record<string, Tool.Any>>(agent: Agent.Agent<Tools>, runId: string, decision: Approval.ApprovalDecision) =>
  Effect.gen(function* () {
    const inbox = yield* ApprovalInbox
    const pending = yield* inbox.pending(runId)
    const invalid = Approval.validateDecisions(runId, pending, [decision])
    if (invalid !== undefined) return yield* new DecisionRejected({ runId, reason: invalid._tag === "ApprovalExpired" ? invalid.message : invalid.reason })
    const deferred = approvalDeferred(decision.toolCallId)
    const token = DurableDeferred.tokenFromExecutionId(deferred, { workflow: workflowFor(agent), executionId: yield* executionIdOf(agent, runId) })
    yield* DurableDeferred.succeed(deferred, { token, value: decision })
    yield* inbox.settle(runId, decision.toolCallId)
  })

/** Waits until the run completes or fails (polling), or until it waits for approvals. */
export const awaitSettled = <Tools extends Record<string, Tool.Any>>(
  agent: Agent.Agent<Tools>,
  runId: string,
  options?: { readonly every?: Duration.DurationInput; readonly timeout?: Duration.DurationInput }
): Effect.Effect<Status, DecisionRejected | Inbox.InboxError, WorkflowEngine.WorkflowEngine | Inbox.ApprovalInbox> => {
  const poll: Effect.Effect<Status, Inbox.InboxError, WorkflowEngine.WorkflowEngine | Inbox.ApprovalInbox> = Effect.flatMap(status(agent, runId), (s) =>
    s._tag === "Completed" || s._tag === "Failed" || s._tag === "Suspended" ? Effect.succeed(s) : Effect.zipRight(Effect.sleep(options?.every ?? "50 millis"), poll)
  )
  return poll.pipe(
    Effect.timeoutFail({
      duration: options?.timeout ?? "60 seconds",
      onTimeout: () => new DecisionRejected({ runId, reason: "timed out waiting for the run to settle" })
    })
  )
}

// -------------------------------------------------------------------------------------------------------
// Engines

/** In memory: for tests and runs that need not outlive the process. */
export const layerMemory: Layer.Layer<WorkflowEngine.WorkflowEngine | Inbox.ApprovalInbox> = Layer.merge(WorkflowEngine.layerMemory, Inbox.layerMemory)

export interface SqlOptions {
  /** How often a runner looks for work another process left (e.g. after a crash). Default 1 s. */
  readonly pollInterval?: Duration.DurationInput
}

const onSql = (options: SqlOptions | undefined) =>
  ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(
      SingleRunner.layer({
        runnerStorage: "sql",
        shardingConfig: { entityMessagePollInterval: Duration.decode(options?.pollInterval ?? "1 second") }
      })
    ),
    Layer.provideMerge(Inbox.layerSql)
  )

/** One machine, an embedded SQLite database: runs survive restarts and crashes. */
export const layerSqlite = (options: { readonly filename: string } & SqlOptions) =>
  onSql(options).pipe(Layer.provideMerge(SqliteClient.layer({ filename: options.filename })))

/** One machine on Postgres: a single runner, its state in a Postgres database. */
export const layerPostgres = (options: { readonly url: Redacted.Redacted<string> } & SqlOptions) =>
  onSql(options).pipe(Layer.provideMerge(PgClient.layer({ url: options.url })))

export interface ClusterOptions extends SqlOptions {
  readonly url: Redacted.Redacted<string>
  /** Where other runners reach this one (default localhost:34431). */
  readonly runnerAddress?: { readonly host: string; readonly port: number }
  /** For processes that start runs and record decisions but run none (an API server): true. */
  readonly clientOnly?: boolean
  readonly shardsPerGroup?: number
}

/**
 * Many machines: `@effect/cluster` runners sharing a Postgres database. Runs are sharded by run id over the
 * runners; when a runner dies, its shards move to the others and its runs replay there from Postgres.
 */
export const layerPostgresCluster = (options: ClusterOptions) =>
  ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(
      NodeClusterSocket.layer({
        storage: "sql",
        clientOnly: options.clientOnly ?? false,
        shardingConfig: {
          entityMessagePollInterval: Duration.decode(options.pollInterval ?? "1 second"),
          ...(options.runnerAddress === undefined
            ? {}
            : { runnerAddress: Option.some(RunnerAddress.make(options.runnerAddress.host, options.runnerAddress.port)) }),
          ...(options.shardsPerGroup === undefined ? {} : { shardsPerGroup: options.shardsPerGroup })
        }
      })
    ),
    Layer.provideMerge(Inbox.layerSql),
    Layer.provideMerge(PgClient.layer({ url: options.url }))
  )

