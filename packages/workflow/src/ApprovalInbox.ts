/**
 * Where a durable run publishes the approvals it waits for, so any process can list them and decide:
 * in memory (tests), or in a table of the same SQL database the workflow engine uses (SQLite, Postgres).
 *
 * @since 0.1.0
 */
import { Approval } from "@agentloop/core"
import { SqlClient } from "@effect/sql"
import { Context, Data, Effect, Layer, ParseResult, Schema } from "effect"

export class InboxError extends Data.TaggedError("InboxError")<{ readonly reason: string }> {
  override get message(): string {
    return `Approval inbox: ${this.reason}`
  }
}

export interface Service {
  readonly publish: (pending: Approval.PendingApproval) => Effect.Effect<void, InboxError>
  readonly pending: (runId: string) => Effect.Effect<ReadonlyArray<Approval.PendingApproval>, InboxError>
  readonly settle: (runId: string, toolCallId: string) => Effect.Effect<void, InboxError>
}

export class ApprovalInbox extends Context.Tag("@agentloop/workflow/ApprovalInbox")<ApprovalInbox, Service>() {}

export const layerMemory: Layer.Layer<ApprovalInbox> = Layer.sync(ApprovalInbox, () => {
  const byRun = new Map<string, Map<string, Approval.PendingApproval>>()
  return {
    publish: (pending) => Effect.sync(() => void (byRun.get(pending.runId) ?? byRun.set(pending.runId, new Map()).get(pending.runId)!).set(pending.toolCallId, pending)),
    pending: (runId) => Effect.sync(() => [...(byRun.get(runId)?.values() ?? [])]),
    settle: (runId, toolCallId) => Effect.sync(() => void byRun.get(runId)?.delete(toolCallId))
  }
})

const Json = Schema.parseJson(Approval.PendingApproval)

/** A table `agentloop_pending_approvals` in the SQL database given (created if missing). */
export const layerSql: Layer.Layer<ApprovalInbox, InboxError, SqlClient.SqlClient> = Layer.effect(
  ApprovalInbox,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const fail = (error: { readonly message: string }) => new InboxError({ reason: error.message })
    yield* sql`CREATE TABLE IF NOT EXISTS agentloop_pending_approvals (
      run_id TEXT NOT NULL,
      tool_call_id TEXT NOT NULL,
      pending TEXT NOT NULL,
      PRIMARY KEY (run_id, tool_call_id)
    )`.pipe(Effect.mapError(fail))
    return {
      publish: (pending) =>
        Effect.gen(function* () {
          const text = Schema.encodeSync(Json)(pending)
          // Delete-then-insert: the same SQL on SQLite and Postgres, and idempotent when replayed.
          yield* sql`DELETE FROM agentloop_pending_approvals WHERE run_id = ${pending.runId} AND tool_call_id = ${pending.toolCallId}`
          yield* sql`INSERT INTO agentloop_pending_approvals (run_id, tool_call_id, pending) VALUES (${pending.runId}, ${pending.toolCallId}, ${text})`
        }).pipe(Effect.mapError(fail)),
      pending: (runId) =>
        sql<{ pending: string }>`SELECT pending FROM agentloop_pending_approvals WHERE run_id = ${runId} ORDER BY tool_call_id`.pipe(
          Effect.mapError(fail),
          Effect.flatMap((rows) =>
            Effect.forEach(rows, (row) =>
              Schema.decodeUnknown(Json)(row.pending).pipe(Effect.mapError((e) => new InboxError({ reason: ParseResult.TreeFormatter.formatErrorSync(e) })))
            )
          )
        ),
      settle: (runId, toolCallId) =>
        Effect.asVoid(sql`DELETE FROM agentloop_pending_approvals WHERE run_id = ${runId} AND tool_call_id = ${toolCallId}`.pipe(Effect.mapError(fail)))
    }
  })
)
