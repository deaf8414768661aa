/**
 * Where a durable run publishes the approvals it waits for, and where decisions are recorded: in memory
 * (tests), or in a table of the same SQL database the workflow engine uses (SQLite, Postgres).
 *
 * Recording a decision is one conditional write (`... WHERE decision IS NULL`), so exactly one decision per
 * approval wins, across processes, and an approval leaves the pending list in the same write that records
 * its decision.
 *
 * @since 0.1.0
 */
import { Approval } from "@agentloop/core"
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"

export class InboxError extends Schema.TaggedError<InboxError>()("InboxError", { reason: Schema.String }) {
  override get message(): string {
    return `Approval inbox: ${this.reason}`
  }
}

/** An approval as stored: what was asked, and the decision once one is recorded. */
export interface Entry {
  readonly pending: Approval.PendingApproval
  readonly decision: Approval.ApprovalDecision | undefined
}

/** What recording a decision did. */
export type Recorded =
  /** This decision is the one recorded. */
  | { readonly _tag: "Won" }
  /** This same decision was recorded before (a retry): deliver it again. */
  | { readonly _tag: "Repeated" }
  /** Another decision was recorded first. */
  | { readonly _tag: "Lost"; readonly winner: Approval.ApprovalDecision }
  /** No such approval in this run. */
  | { readonly _tag: "NotFound" }

export interface Service {
  /** Publishes a pending approval; publishing it again (a replay) keeps what is recorded. */
  readonly publish: (pending: Approval.PendingApproval) => Effect.Effect<void, InboxError>
  /** The run's approvals that have no decision yet. */
  readonly pending: (runId: string) => Effect.Effect<ReadonlyArray<Approval.PendingApproval>, InboxError>
  /** One approval of the run, decided or not. */
  readonly find: (runId: string, approvalId: string) => Effect.Effect<Entry | undefined, InboxError>
  /** Records a decision if the approval has none yet (atomic: exactly one decision wins). */
  readonly record: (runId: string, decision: Approval.ApprovalDecision) => Effect.Effect<Recorded, InboxError>
}

export class ApprovalInbox extends Context.Service<ApprovalInbox, Service>()("@agentloop/workflow/ApprovalInbox") {}

/** Two decisions are the same decision when every field agrees (a retry of one caller). */
const sameDecision = (a: Approval.ApprovalDecision, b: Approval.ApprovalDecision) =>
  a.approvalId === b.approvalId &&
  a.toolCallId === b.toolCallId &&
  a.argumentsDigest === b.argumentsDigest &&
  a.approved === b.approved &&
  a.reason === b.reason &&
  a.decidedBy === b.decidedBy

const outcome = (attempted: Approval.ApprovalDecision, recorded: Approval.ApprovalDecision): Recorded =>
  sameDecision(attempted, recorded) ? { _tag: "Repeated" } : { _tag: "Lost", winner: recorded }

export const layerMemory: Layer.Layer<ApprovalInbox> = Layer.sync(ApprovalInbox, () => {
  const byRun = new Map<string, Map<string, { pending: Approval.PendingApproval; decision: Approval.ApprovalDecision | undefined }>>()
  const entries = (runId: string) => byRun.get(runId) ?? byRun.set(runId, new Map()).get(runId)!
  return {
    publish: (pending) =>
      Effect.sync(() => {
        const run = entries(pending.runId)
        if (!run.has(pending.approvalId)) run.set(pending.approvalId, { pending, decision: undefined })
      }),
    pending: (runId) => Effect.sync(() => [...(byRun.get(runId)?.values() ?? [])].filter((e) => e.decision === undefined).map((e) => e.pending)),
    find: (runId, approvalId) => Effect.sync(() => byRun.get(runId)?.get(approvalId)),
    // Synchronous: nothing can interleave between the check and the write.
    record: (runId, decision) =>
      Effect.sync((): Recorded => {
        const entry = byRun.get(runId)?.get(decision.approvalId)
        if (entry === undefined) return { _tag: "NotFound" }
        if (entry.decision !== undefined) return outcome(decision, entry.decision)
        entry.decision = decision
        return { _tag: "Won" }
      })
  }
})

const PendingJson = Schema.fromJsonString(Approval.PendingApproval)
const DecisionJson = Schema.fromJsonString(Approval.ApprovalDecision)
const encodePending = Schema.encodeSync(PendingJson)
const encodeDecision = Schema.encodeSync(DecisionJson)
const decodePending = Schema.decodeUnknownEffect(PendingJson)
const decodeDecision = Schema.decodeUnknownEffect(DecisionJson)

/** A table `agentloop_approvals` in the SQL database given (created if missing). */
export const layerSql: Layer.Layer<ApprovalInbox, InboxError, SqlClient.SqlClient> = Layer.effect(
  ApprovalInbox,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const fail = (error: { readonly message: string }) => new InboxError({ reason: error.message })
    const decode = <A>(decoder: (text: unknown) => Effect.Effect<A, Schema.SchemaError>, text: unknown) =>
      decoder(text).pipe(Effect.mapError((e) => new InboxError({ reason: e.message })))
    yield* sql`CREATE TABLE IF NOT EXISTS agentloop_approvals (
      run_id TEXT NOT NULL,
      approval_id TEXT NOT NULL,
      pending TEXT NOT NULL,
      decision TEXT,
      PRIMARY KEY (run_id, approval_id)
    )`.pipe(Effect.mapError(fail))
    const entryOf = (row: { pending: string; decision: string | null }) =>
      Effect.all({
        pending: decode(decodePending, row.pending),
        decision: row.decision === null ? Effect.succeed(undefined) : decode(decodeDecision, row.decision)
      })
    const find = (runId: string, approvalId: string) =>
      sql<{ pending: string; decision: string | null }>`SELECT pending, decision FROM agentloop_approvals WHERE run_id = ${runId} AND approval_id = ${approvalId}`.pipe(
        Effect.mapError(fail),
        Effect.flatMap((rows) => (rows[0] === undefined ? Effect.succeed(undefined) : entryOf(rows[0])))
      )
    return {
      // Insert-if-absent: the same SQL on SQLite and Postgres; a replayed publish never clears a decision.
      publish: (pending) =>
        sql`INSERT INTO agentloop_approvals (run_id, approval_id, pending) VALUES (${pending.runId}, ${pending.approvalId}, ${encodePending(pending)})
          ON CONFLICT (run_id, approval_id) DO NOTHING`.pipe(Effect.asVoid, Effect.mapError(fail)),
      pending: (runId) =>
        sql<{ pending: string }>`SELECT pending FROM agentloop_approvals WHERE run_id = ${runId} AND decision IS NULL ORDER BY approval_id`.pipe(
          Effect.mapError(fail),
          Effect.flatMap((rows) => Effect.forEach(rows, (row) => decode(decodePending, row.pending)))
        ),
      find,
      // One statement: the database serializes concurrent writers, so only one sees `decision IS NULL`.
      record: (runId, decision) =>
        Effect.gen(function* () {
          const won = yield* sql<{ approval_id: string }>`UPDATE agentloop_approvals SET decision = ${encodeDecision(decision)}
            WHERE run_id = ${runId} AND approval_id = ${decision.approvalId} AND decision IS NULL RETURNING approval_id`.pipe(Effect.mapError(fail))
          if (won.length > 0) return { _tag: "Won" } as Recorded
          const entry = yield* find(runId, decision.approvalId)
          if (entry?.decision === undefined) return { _tag: "NotFound" } as Recorded
          return outcome(decision, entry.decision)
        })
    }
  })
)
