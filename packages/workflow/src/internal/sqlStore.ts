/**
 * Where the single-runner engine (`sqlEngine`) keeps workflow executions: three tables in the SQL database
 * the engine owns (SQLite or Postgres), and a writer that commits the writes of concurrent runs together.
 *
 * - `agentloop_workflow_executions`: one row per execution (payload, state, result once complete);
 * - `agentloop_workflow_activities`: each finished activity's exit (a replay returns it instead of running
 *   the activity again);
 * - `agentloop_workflow_deferreds`: each durable deferred's first completion.
 *
 * Writes go through one queue (`Batch`): the writer takes everything queued while its previous commit ran and
 * commits it as one transaction (group commit), so 1,000 concurrent runs pay for a few commits, not a few
 * thousand, and a write has returned only once it is committed. SQLite runs the batch's statements one by
 * one in that transaction (prepared once, cheap in-process calls); Postgres sends one statement per table,
 * its rows as arrays (`UNNEST`), so a batch costs a round trip per table whatever its size, and each
 * statement's text never changes (the server prepares it once).
 */
import { Duration, Effect, Schedule, type Scope } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import * as Batch from "./batch.js"

export type ExecutionState = "running" | "suspended" | "complete"

export interface ExecutionRow {
  readonly executionId: string
  readonly workflow: string
  /** The payload as JSON text (the workflow's payload schema, JSON-encoded). */
  readonly payload: string
  /** The parent execution's id, when this one is a child workflow. */
  readonly parent: string | null
  readonly state: ExecutionState
  /** Once complete: the result's exit as JSON text. */
  readonly result: string | null
}

export type Write =
  /** Creates the execution or changes its state (never a complete one's). */
  | { readonly _tag: "Execution"; readonly row: ExecutionRow }
  /** A finished activity's exit (the first one recorded stays). */
  | { readonly _tag: "Activity"; readonly executionId: string; readonly key: string; readonly exit: string }
  /** A deferred's completion (the first one recorded stays). */
  | { readonly _tag: "Deferred"; readonly executionId: string; readonly name: string; readonly exit: string }
  /** A suspended execution is running again (applied after the batch's other writes). */
  | { readonly _tag: "Wake"; readonly executionId: string }

export interface History {
  /** Finished activities by `<name>/<attempt>`, exits as JSON text. */
  readonly activities: ReadonlyArray<readonly [string, string]>
  /** Completed deferreds by name, exits as JSON text. */
  readonly deferreds: ReadonlyArray<readonly [string, string]>
}

export interface Store {
  readonly execution: (executionId: string) => Effect.Effect<ExecutionRow | undefined>
  /** Executions of a workflow left running (by a process that stopped or died): they run again. */
  readonly running: (workflow: string) => Effect.Effect<ReadonlyArray<ExecutionRow>>
  readonly history: (executionId: string) => Effect.Effect<History>
  /** Returns once the writes are committed (with whatever else was queued meanwhile). */
  readonly write: (writes: ReadonlyArray<Write>) => Effect.Effect<void>
}

interface RawExecution {
  readonly execution_id: string
  readonly workflow: string
  readonly payload: string
  readonly parent: string | null
  readonly state: string
  readonly result: string | null
}

const executionOf = (row: RawExecution): ExecutionRow => ({
  executionId: row.execution_id,
  workflow: row.workflow,
  payload: row.payload,
  parent: row.parent,
  state: row.state as ExecutionState,
  result: row.result
})

/**
 * The engine's storage is its own: a database error is retried (with backoff, logged) until it goes
 * through, never turned into a run's result, as `effect/cluster` does with its storage.
 */
const persistently = <A>(effect: Effect.Effect<A, SqlError.SqlError>): Effect.Effect<A> =>
  effect.pipe(
    Effect.tapError((error) => Effect.logWarning("agentloop: workflow storage failed; retrying", error)),
    Effect.retry({ schedule: Schedule.min([Schedule.exponential(Duration.millis(100), 1.5), Schedule.spaced(Duration.seconds(30))]) }),
    Effect.orDie
  )

/** Keeps the last write per execution and the first per activity and deferred (a batch is applied at once). */
const collate = (writes: ReadonlyArray<Write>) => {
  const executions = new Map<string, ExecutionRow>()
  const activities = new Map<string, Extract<Write, { _tag: "Activity" }>>()
  const deferreds = new Map<string, Extract<Write, { _tag: "Deferred" }>>()
  const wakes = new Set<string>()
  for (const write of writes) {
    if (write._tag === "Execution") executions.set(write.row.executionId, write.row)
    else if (write._tag === "Wake") wakes.add(write.executionId)
    else if (write._tag === "Activity") {
      const id = `${write.executionId}\u0000${write.key}`
      if (!activities.has(id)) activities.set(id, write)
    } else {
      const id = `${write.executionId}\u0000${write.name}`
      if (!deferreds.has(id)) deferreds.set(id, write)
    }
  }
  return { executions: [...executions.values()], activities: [...activities.values()], deferreds: [...deferreds.values()], wakes: [...wakes] }
}

export const make: Effect.Effect<Store, SqlError.SqlError, SqlClient.SqlClient | Scope.Scope> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS agentloop_workflow_executions (
    execution_id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    payload TEXT NOT NULL,
    parent TEXT,
    state TEXT NOT NULL,
    result TEXT
  )`
  yield* sql`CREATE INDEX IF NOT EXISTS agentloop_workflow_executions_running ON agentloop_workflow_executions (workflow) WHERE state = 'running'`
  yield* sql`CREATE TABLE IF NOT EXISTS agentloop_workflow_activities (
    execution_id TEXT NOT NULL,
    activity TEXT NOT NULL,
    exit TEXT NOT NULL,
    PRIMARY KEY (execution_id, activity)
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS agentloop_workflow_deferreds (
    execution_id TEXT NOT NULL,
    name TEXT NOT NULL,
    exit TEXT NOT NULL,
    PRIMARY KEY (execution_id, name)
  )`

  // The conflict clauses are the same SQL on both databases; only how a batch's rows reach them differs.
  const upsertExecution = `ON CONFLICT (execution_id) DO UPDATE SET state = excluded.state, result = excluded.result
    WHERE agentloop_workflow_executions.state <> 'complete'`
  const flush = sql.onDialectOrElse({
    pg: () => (batch: ReturnType<typeof collate>) => {
      const statements: Array<Effect.Effect<unknown, SqlError.SqlError>> = []
      const { activities, deferreds, executions } = batch
      if (executions.length > 0) {
        statements.push(
          sql.unsafe(
            // The driver infers each array's type from its elements: an array of nulls has none, so a
            // missing parent or result travels as "" and becomes NULL here.
            `INSERT INTO agentloop_workflow_executions (execution_id, workflow, payload, parent, state, result)
              SELECT e, w, p, NULLIF(pa, ''), s, NULLIF(r, '') FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(e, w, p, pa, s, r)
              ${upsertExecution}`,
            [
              executions.map((r) => r.executionId),
              executions.map((r) => r.workflow),
              executions.map((r) => r.payload),
              executions.map((r) => r.parent ?? ""),
              executions.map((r) => r.state),
              executions.map((r) => r.result ?? "")
            ]
          )
        )
      }
      if (activities.length > 0) {
        statements.push(
          sql.unsafe(
            `INSERT INTO agentloop_workflow_activities (execution_id, activity, exit)
              SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
            [activities.map((r) => r.executionId), activities.map((r) => r.key), activities.map((r) => r.exit)]
          )
        )
      }
      if (deferreds.length > 0) {
        statements.push(
          sql.unsafe(
            `INSERT INTO agentloop_workflow_deferreds (execution_id, name, exit)
              SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
            [deferreds.map((r) => r.executionId), deferreds.map((r) => r.name), deferreds.map((r) => r.exit)]
          )
        )
      }
      if (batch.wakes.length > 0) {
        statements.push(sql.unsafe(`UPDATE agentloop_workflow_executions SET state = 'running' WHERE execution_id = ANY($1::text[]) AND state = 'suspended'`, [batch.wakes]))
      }
      const all = Effect.all(statements, { discard: true })
      return statements.length > 1 ? sql.withTransaction(all) : all
    },
    orElse: () => (batch: ReturnType<typeof collate>) => {
      const statements: Array<Effect.Effect<unknown, SqlError.SqlError>> = [
        ...batch.executions.map(
          (r) => sql`INSERT INTO agentloop_workflow_executions (execution_id, workflow, payload, parent, state, result)
            VALUES (${r.executionId}, ${r.workflow}, ${r.payload}, ${r.parent}, ${r.state}, ${r.result}) ${sql.unsafe(upsertExecution)}`
        ),
        ...batch.activities.map(
          (r) => sql`INSERT INTO agentloop_workflow_activities (execution_id, activity, exit) VALUES (${r.executionId}, ${r.key}, ${r.exit}) ON CONFLICT DO NOTHING`
        ),
        ...batch.deferreds.map(
          (r) => sql`INSERT INTO agentloop_workflow_deferreds (execution_id, name, exit) VALUES (${r.executionId}, ${r.name}, ${r.exit}) ON CONFLICT DO NOTHING`
        ),
        ...batch.wakes.map((id) => sql`UPDATE agentloop_workflow_executions SET state = 'running' WHERE execution_id = ${id} AND state = 'suspended'`)
      ]
      const all = Effect.all(statements, { discard: true })
      return statements.length > 1 ? sql.withTransaction(all) : all
    }
  })

  // Group commit (`Batch`): whoever writes waits for the commit that includes its writes.
  const write = yield* Batch.make((batch: ReadonlyArray<ReadonlyArray<Write>>) => persistently(flush(collate(batch.flat()))))

  return {
    execution: (executionId) =>
      persistently(
        Effect.map(
          sql<RawExecution>`SELECT execution_id, workflow, payload, parent, state, result FROM agentloop_workflow_executions WHERE execution_id = ${executionId}`,
          (rows) => (rows[0] === undefined ? undefined : executionOf(rows[0]))
        )
      ),
    running: (workflow) =>
      persistently(
        Effect.map(
          sql<RawExecution>`SELECT execution_id, workflow, payload, parent, state, result FROM agentloop_workflow_executions WHERE workflow = ${workflow} AND state = 'running'`,
          (rows) => rows.map(executionOf)
        )
      ),
    history: (executionId) =>
      persistently(
        Effect.map(
          Effect.all([
            sql<{ activity: string; exit: string }>`SELECT activity, exit FROM agentloop_workflow_activities WHERE execution_id = ${executionId}`,
            sql<{ name: string; exit: string }>`SELECT name, exit FROM agentloop_workflow_deferreds WHERE execution_id = ${executionId}`
          ]),
          ([activities, deferreds]) => ({
            activities: activities.map((r) => [r.activity, r.exit] as const),
            deferreds: deferreds.map((r) => [r.name, r.exit] as const)
          })
        )
      ),
    write
  }
})
