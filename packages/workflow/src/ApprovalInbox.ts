/**
 * Where a durable run publishes the approvals it waits for, and where decisions are recorded: in memory
 * (tests), or in a table of the same SQL database the workflow engine uses (SQLite, Postgres).
 *
 * Recording a decision is one conditional write (`... WHERE decision IS NULL`), so exactly one decision per
 * approval wins, across processes, and an approval leaves the pending list in the same write that records
 * its decision. The inbox is the record of decisions: the run takes its decision from here (see
 * `Durable`), and an entry stays `delivered: false` until the run has taken it or the engine holds it, so a
 * decider that dies after recording cannot lose the decision (`undelivered` finds it again).
 *
 * @since 0.1.0
 */
import { Approval } from "@agentloop/core"
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"
import * as Batch from "./internal/batch.js"

export class InboxError extends Schema.TaggedError<InboxError>()("InboxError", { reason: Schema.String }) {
  override get message(): string {
    return `Approval inbox: ${this.reason}`
  }
}

/** An approval as stored: what was asked, and the decision once one is recorded. */
export interface Entry {
  readonly pending: Approval.PendingApproval
  readonly decision: Approval.ApprovalDecision | undefined
  /** The run has taken the decision, or the engine holds it (false while undecided). */
  readonly delivered: boolean
}

/** A recorded decision that no run has taken yet, with the token of the durable deferred that wakes the run. */
export interface Undelivered {
  readonly runId: string
  readonly approvalId: string
  readonly decision: Approval.ApprovalDecision
  readonly token: string
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
  /**
   * Publishes a pending approval, with the token of the durable deferred its run waits on (how a recorded
   * decision is delivered again later); publishing it again (a replay) keeps what is recorded.
   */
  readonly publish: (pending: Approval.PendingApproval, token?: string) => Effect.Effect<void, InboxError>
  /** The run's approvals that have no decision yet. */
  readonly pending: (runId: string) => Effect.Effect<ReadonlyArray<Approval.PendingApproval>, InboxError>
  /** The run's approvals that have no decision yet, or a decision not yet delivered (one read). */
  readonly open: (runId: string) => Effect.Effect<ReadonlyArray<Entry>, InboxError>
  /** One approval of the run, decided or not. */
  readonly find: (runId: string, approvalId: string) => Effect.Effect<Entry | undefined, InboxError>
  /** Records a decision if the approval has none yet (atomic: exactly one decision wins). */
  readonly record: (runId: string, decision: Approval.ApprovalDecision) => Effect.Effect<Recorded, InboxError>
  /** Marks a recorded decision as delivered (taken by its run, or held by the engine). */
  readonly markDelivered: (runId: string, approvalId: string) => Effect.Effect<void, InboxError>
  /** Up to `limit` recorded decisions of any run not delivered yet, that have a token to deliver them with. */
  readonly undelivered: (limit: number) => Effect.Effect<ReadonlyArray<Undelivered>, InboxError>
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
  interface Stored {
    readonly pending: Approval.PendingApproval
    readonly token: string | undefined
    decision: Approval.ApprovalDecision | undefined
    delivered: boolean
  }
  const byRun = new Map<string, Map<string, Stored>>()
  const entries = (runId: string) => byRun.get(runId) ?? byRun.set(runId, new Map()).get(runId)!
  // Decided and not delivered, by "<runId>\u0000<approvalId>": what a redelivery pass reads without a scan.
  const waiting = new Map<string, Stored>()
  const entryOf = (e: Stored): Entry => ({ pending: e.pending, decision: e.decision, delivered: e.delivered })
  return {
    publish: (pending, token) =>
      Effect.sync(() => {
        const run = entries(pending.runId)
        if (!run.has(pending.approvalId)) run.set(pending.approvalId, { pending, token, decision: undefined, delivered: false })
      }),
    pending: (runId) => Effect.sync(() => [...(byRun.get(runId)?.values() ?? [])].filter((e) => e.decision === undefined).map((e) => e.pending)),
    open: (runId) => Effect.sync(() => [...(byRun.get(runId)?.values() ?? [])].filter((e) => !e.delivered).map(entryOf)),
    find: (runId, approvalId) =>
      Effect.sync(() => {
        const e = byRun.get(runId)?.get(approvalId)
        return e === undefined ? undefined : entryOf(e)
      }),
    // Synchronous: nothing can interleave between the check and the write.
    record: (runId, decision) =>
      Effect.sync((): Recorded => {
        const entry = byRun.get(runId)?.get(decision.approvalId)
        if (entry === undefined) return { _tag: "NotFound" }
        if (entry.decision !== undefined) return outcome(decision, entry.decision)
        entry.decision = decision
        waiting.set(`${runId}\u0000${decision.approvalId}`, entry)
        return { _tag: "Won" }
      }),
    markDelivered: (runId, approvalId) =>
      Effect.sync(() => {
        const entry = byRun.get(runId)?.get(approvalId)
        if (entry?.decision === undefined) return
        entry.delivered = true
        waiting.delete(`${runId}\u0000${approvalId}`)
      }),
    undelivered: (limit) =>
      Effect.sync(() =>
        [...waiting.values()]
          .filter((e) => e.token !== undefined)
          .slice(0, limit)
          .map((e) => ({ runId: e.pending.runId, approvalId: e.pending.approvalId, decision: e.decision!, token: e.token! }))
      )
  }
})

const PendingJson = Schema.fromJsonString(Approval.PendingApproval)
const DecisionJson = Schema.fromJsonString(Approval.ApprovalDecision)
const encodePending = Schema.encodeSync(PendingJson)
const encodeDecision = Schema.encodeSync(DecisionJson)
const decodePending = Schema.decodeUnknownEffect(PendingJson)
const decodeDecision = Schema.decodeUnknownEffect(DecisionJson)

interface Row {
  readonly pending: string
  readonly decision: string | null
  readonly delivered: number
}

/**
 * Creates the table, or adds what an older version's table lacks (`token`, `delivered`; rows decided
 * before then count as not delivered, and have no token: `decide` delivers them again when called).
 * The partial index keeps the redelivery pass's read to the few decided-but-undelivered rows.
 */
const migrate = (sql: SqlClient.SqlClient) =>
  Effect.gen(function* () {
    yield* sql`CREATE TABLE IF NOT EXISTS agentloop_approvals (
      run_id TEXT NOT NULL,
      approval_id TEXT NOT NULL,
      pending TEXT NOT NULL,
      decision TEXT,
      token TEXT,
      delivered INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (run_id, approval_id)
    )`
    const columns = yield* sql.onDialectOrElse({
      sqlite: () => Effect.map(sql<{ name: string }>`PRAGMA table_info(agentloop_approvals)`, (rows) => new Set(rows.map((r) => r.name))),
      orElse: () =>
        Effect.map(
          sql<{ name: string }>`SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'agentloop_approvals' AND table_schema = current_schema()`,
          (rows) => new Set(rows.map((r) => r.name))
        )
    })
    if (!columns.has("token")) yield* sql`ALTER TABLE agentloop_approvals ADD COLUMN token TEXT`
    if (!columns.has("delivered")) yield* sql`ALTER TABLE agentloop_approvals ADD COLUMN delivered INTEGER NOT NULL DEFAULT 0`
    yield* sql`CREATE INDEX IF NOT EXISTS agentloop_approvals_undelivered ON agentloop_approvals (run_id) WHERE decision IS NOT NULL AND delivered = 0`
  }).pipe(
    // Runners of a cluster start together: one migrates at a time (Postgres; SQLite has one owner).
    (migration) =>
      sql.onDialectOrElse({
        pg: () => sql.withTransaction(Effect.andThen(sql`SELECT pg_advisory_xact_lock(hashtext('agentloop'), hashtext('agentloop_approvals'))`, migration)),
        orElse: () => migration
      })
  )

/** A table `agentloop_approvals` in the SQL database given (created, or migrated, if needed). */
export const layerSql: Layer.Layer<ApprovalInbox, InboxError, SqlClient.SqlClient> = Layer.effect(
  ApprovalInbox,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const fail = (error: { readonly message: string }) => new InboxError({ reason: error.message })
    const decode = <A>(decoder: (text: unknown) => Effect.Effect<A, Schema.SchemaError>, text: unknown) =>
      decoder(text).pipe(Effect.mapError((e) => new InboxError({ reason: e.message })))
    yield* migrate(sql).pipe(Effect.mapError(fail))
    const entryOf = (row: Row): Effect.Effect<Entry, InboxError> =>
      Effect.map(
        Effect.all({
          pending: decode(decodePending, row.pending),
          decision: row.decision === null ? Effect.succeed(undefined) : decode(decodeDecision, row.decision)
        }),
        ({ pending, decision }) => ({ pending, decision, delivered: Number(row.delivered) === 1 })
      )
    const find = (runId: string, approvalId: string) =>
      sql<Row>`SELECT pending, decision, delivered FROM agentloop_approvals WHERE run_id = ${runId} AND approval_id = ${approvalId}`.pipe(
        Effect.mapError(fail),
        Effect.flatMap((rows) => (rows[0] === undefined ? Effect.succeed(undefined) : entryOf(rows[0])))
      )
    // One statement: the database serializes concurrent writers, so only one sees `decision IS NULL`.
    const recordOne = (runId: string, decision: Approval.ApprovalDecision) =>
      Effect.gen(function* () {
        const won = yield* sql<{ approval_id: string }>`UPDATE agentloop_approvals SET decision = ${encodeDecision(decision)}
          WHERE run_id = ${runId} AND approval_id = ${decision.approvalId} AND decision IS NULL RETURNING approval_id`.pipe(Effect.mapError(fail))
        if (won.length > 0) return { _tag: "Won" } as Recorded
        const entry = yield* find(runId, decision.approvalId)
        if (entry?.decision === undefined) return { _tag: "NotFound" } as Recorded
        return outcome(decision, entry.decision)
      })
    const markOne = (runId: string, approvalId: string) =>
      sql`UPDATE agentloop_approvals SET delivered = 1 WHERE run_id = ${runId} AND approval_id = ${approvalId} AND decision IS NOT NULL AND delivered = 0`.pipe(
        Effect.asVoid,
        Effect.mapError(fail)
      )
    // SQLite (one process owns the file): the writes of concurrent callers share one transaction (resuming
    // 100 runs spent most of its statement time in 200 single-row commits), run one after the other in it, so
    // the first decision for an approval still wins and the others see it. Postgres keeps a statement per
    // write: the batches of a cluster's processes could deadlock on each other's rows.
    const inOneTransaction = <A, B>(each: (item: A) => Effect.Effect<B, InboxError>) =>
      Effect.map(
        Batch.make((items: ReadonlyArray<A>) =>
          sql.withTransaction(Effect.forEach(items, (item) => Effect.map(each(item), (result) => [item, result] as const))).pipe(
            Effect.map((results) => new Map(results)),
            Effect.mapError((error) => (error instanceof InboxError ? error : fail(error)))
          )
        ),
        // The item object is the caller's key into its batch's results.
        (batched) => (item: A) => Effect.map(batched(item), (results) => results.get(item)!)
      )
    const { record, markDelivered } = yield* sql.onDialectOrElse({
      sqlite: () =>
        Effect.all({
          recordIn: inOneTransaction((call: { readonly runId: string; readonly decision: Approval.ApprovalDecision }) => recordOne(call.runId, call.decision)),
          markIn: inOneTransaction((call: { readonly runId: string; readonly approvalId: string }) => markOne(call.runId, call.approvalId))
        }).pipe(
          Effect.map(({ recordIn, markIn }) => ({
            record: (runId: string, decision: Approval.ApprovalDecision) => recordIn({ runId, decision }),
            markDelivered: (runId: string, approvalId: string) => markIn({ runId, approvalId })
          }))
        ),
      orElse: () => Effect.succeed({ record: recordOne, markDelivered: markOne })
    })
    return {
      // Insert-if-absent: the same SQL on SQLite and Postgres; a replayed publish never clears a decision.
      publish: (pending, token) =>
        sql`INSERT INTO agentloop_approvals (run_id, approval_id, pending, token) VALUES (${pending.runId}, ${pending.approvalId}, ${encodePending(pending)}, ${token ?? null})
          ON CONFLICT (run_id, approval_id) DO NOTHING`.pipe(Effect.asVoid, Effect.mapError(fail)),
      pending: (runId) =>
        sql<{ pending: string }>`SELECT pending FROM agentloop_approvals WHERE run_id = ${runId} AND decision IS NULL ORDER BY approval_id`.pipe(
          Effect.mapError(fail),
          Effect.flatMap((rows) => Effect.forEach(rows, (row) => decode(decodePending, row.pending)))
        ),
      open: (runId) =>
        sql<Row>`SELECT pending, decision, delivered FROM agentloop_approvals WHERE run_id = ${runId} AND delivered = 0 ORDER BY approval_id`.pipe(
          Effect.mapError(fail),
          Effect.flatMap((rows) => Effect.forEach(rows, entryOf))
        ),
      find,
      record,
      markDelivered,
      undelivered: (limit) =>
        sql<{ run_id: string; approval_id: string; decision: string; token: string }>`SELECT run_id, approval_id, decision, token FROM agentloop_approvals
          WHERE decision IS NOT NULL AND delivered = 0 AND token IS NOT NULL LIMIT ${limit}`.pipe(
          Effect.mapError(fail),
          Effect.flatMap((rows) =>
            Effect.forEach(rows, (row) =>
              Effect.map(decode(decodeDecision, row.decision), (decision) => ({ runId: row.run_id, approvalId: row.approval_id, decision, token: row.token }))
            )
          )
        )
    }
  })
)
