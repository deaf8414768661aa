/**
 * The engines behind `Durable`'s one Layer choice (memory, SQLite, Postgres, a Postgres cluster), what this
 * process runs (`LocalEngine`), and the redelivery pass every runner keeps going (see `redeliver`).
 */
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import { Context, Duration, Effect, Layer, Option, type Redacted, Schema } from "effect"
import * as NodeCrypto from "@effect/platform-node/NodeCrypto"
import { ClusterWorkflowEngine, RunnerAddress, ShardingConfig, SqlMessageStorage } from "effect/cluster"
import { SqlClient, type SqlError } from "effect/sql"
import { DurableDeferred, WorkflowEngine } from "effect/workflow"
import * as Inbox from "../ApprovalInbox.js"
import * as ClusterStorage from "./clusterStorage.js"
import * as SqlEngine from "./sqlEngine.js"
import { anyApprovalDeferred } from "./steps.js"

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
export const registerLocally = (name: string) =>
  Layer.effectDiscard(
    Effect.flatMap(Effect.serviceOption(LocalEngine), (local) =>
      Option.isNone(local)
        ? Effect.void
        : Effect.acquireRelease(Effect.sync(() => local.value.agents.add(name)), () => Effect.sync(() => local.value.agents.delete(name)))
    )
  )

/**
 * Delivers, every `every`, the decisions the inbox holds that no run has taken (a decider that died between
 * recording a decision and delivering it), then marks them delivered: the run wakes and takes its decision
 * from the inbox. Delivering twice is harmless (the engine keeps the first value of a deferred). Runs in
 * every process that runs workflows (not in a `clientOnly` one).
 */
const redeliver = (every: Duration.Duration) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const inbox = yield* Inbox.ApprovalInbox
      const engine = yield* WorkflowEngine.WorkflowEngine
      const pass = Effect.flatMap(inbox.undelivered(100), (rows) =>
        Effect.forEach(
          rows,
          (row) =>
            DurableDeferred.succeed(anyApprovalDeferred, { token: row.token as DurableDeferred.Token, value: row.decision }).pipe(
              Effect.andThen(inbox.markDelivered(row.runId, row.approvalId))
            ),
          { discard: true }
        )
      ).pipe(
        Effect.provideService(WorkflowEngine.WorkflowEngine, engine),
        Effect.catchCause((cause) => Effect.logWarning("agentloop: redelivering recorded decisions failed; retrying", cause))
      )
      yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(every), pass)))
    })
  )

/** In memory: for tests and runs that need not outlive the process. */
export const layerMemory: Layer.Layer<WorkflowEngine.WorkflowEngine | Inbox.ApprovalInbox | LocalEngine> = redeliver(Duration.seconds(1)).pipe(
  Layer.provideMerge(Layer.mergeAll(WorkflowEngine.layerMemory, Inbox.layerMemory, localEngine("single-runner")))
)

export interface SqlOptions {
  /**
   * Default 1 s. A cluster runner looks for work other processes left (e.g. after a crash) this often. Every
   * runner (single or cluster) delivers, every fifth interval, decisions a dead decider recorded but did not
   * deliver. (A single runner takes over what a previous process left when it starts.)
   */
  readonly pollInterval?: Duration.Input
}

const pollIntervalOf = (options: SqlOptions | undefined) => Duration.fromInputUnsafe(options?.pollInterval ?? "1 second")

/** A runner's redelivery pass (see `redeliver`): every fifth poll. */
const redeliverEvery = (options: SqlOptions | undefined) => Duration.times(pollIntervalOf(options), 5)

/** A single runner on the SQL database the process owns (see `sqlEngine`). */
const onSql = (options: SqlOptions | undefined) =>
  redeliver(redeliverEvery(options)).pipe(
    Layer.provideMerge(SqlEngine.layer),
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
      // FULL (SQLite's default, stated here on purpose): a commit is on disk when it returns, also after a
      // power loss. The engine commits the writes of concurrent runs together, so this costs one fsync per
      // batch; NORMAL measured no faster (docs/durable.md, "Throughput").
      yield* sql.unsafe("PRAGMA synchronous = FULL")
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
   * How long a runner that stopped heartbeating keeps its shards before the other runners take them over
   * and replay its runs. Default 9 s. A live runner paused (GC, a stopped VM, a slow disk) for up to two
   * thirds of it keeps its runs; a longer pause may hand them to another runner, and a tool call they were
   * running then runs again there. A runner that crashes is noticed sooner, by the health check (every 2 s).
   * A third of it is also how long a runner waits to confirm its shard lock before storing a result: with a
   * database slower than that, the call runs again. Use the same value on every runner. The trade-off,
   * measured: docs/durable.md, "Failover in a cluster".
   */
  readonly failoverAfter?: Duration.Input
}

/**
 * The default `failoverAfter` (see docs/durable.md, "Failover in a cluster", for how it was chosen): 9 s, a
 * 3 s lock refresh and deadline. With the lock refreshes coalesced (`clusterStorage.ts`) a single runner
 * kept busy by 1,000 concurrent runs waits at most a few hundred ms for one (2 s before, when it ran tool
 * calls twice at this value).
 */
export const defaultFailoverAfter = Duration.seconds(9)

/**
 * `effect/cluster`'s timings for a `failoverAfter`: shard locks expire after it; runners refresh them (and
 * their heartbeat) every third of it, so a pause up to two thirds of it keeps them (the refresh interval is
 * also `effect/cluster`'s deadline for each lock operation: a refresh every second measured duplicate tool
 * runs under load, a database slower than the deadline making the runner stop its entities); runners ping
 * each other every 2 s (at most every `failoverAfter`), so a crashed runner (its socket refuses the ping) is
 * taken over in seconds, while a paused one (its socket still accepts, and the ping waits 10 s per try) is not.
 */
export const failoverTimings = (failoverAfter: Duration.Duration) => ({
  shardLockExpiration: failoverAfter,
  shardLockRefreshInterval: Duration.divide(failoverAfter, 3).pipe(Option.getOrElse(() => failoverAfter)),
  runnerHealthCheckInterval: Duration.min(Duration.seconds(2), failoverAfter)
})

/**
 * Many machines: `effect/cluster` runners sharing a Postgres database. Runs are sharded by run id over the
 * runners; when a runner dies, its shards move to the others (in seconds; at most `failoverAfter` plus an
 * assignment refresh) and its runs replay there from Postgres.
 */
export const layerPostgresCluster = (options: ClusterOptions) => {
  const failoverAfter = options.failoverAfter === undefined ? defaultFailoverAfter : Duration.fromInputUnsafe(options.failoverAfter)
  const engine = options.clientOnly === true ? ClusterWorkflowEngine.layer : redeliver(redeliverEvery(options)).pipe(Layer.provideMerge(ClusterWorkflowEngine.layer))
  const shardingConfig = {
    entityMessagePollInterval: pollIntervalOf(options),
    ...failoverTimings(failoverAfter),
    ...(options.runnerAddress === undefined
      ? {}
      : { runnerAddress: Option.some(RunnerAddress.make(options.runnerAddress.host, options.runnerAddress.port)) }),
    ...(options.shardsPerGroup === undefined ? {} : { shardsPerGroup: options.shardsPerGroup })
  }
  // "byo" storage: the message storage on the shared pool, the runner storage (heartbeats, shard locks) on
  // its own connections with its refreshes coalesced (see `clusterStorage.ts`). Both, and the runner itself
  // (its own copy), take the same sharding config.
  return engine.pipe(
    Layer.provideMerge(NodeClusterSocket.layer({ storage: "byo", clientOnly: options.clientOnly ?? false, shardingConfig })),
    Layer.provideMerge(SqlMessageStorage.layer.pipe(Layer.provide(NodeCrypto.layerDigest))),
    Layer.provide(ClusterStorage.layer({ url: options.url, clientOnly: options.clientOnly === true })),
    Layer.provide(ShardingConfig.layerFromEnv(shardingConfig)),
    Layer.provideMerge(Layer.merge(Inbox.layerSql, localEngine("cluster"))),
    Layer.provideMerge(PgClient.layer({ url: options.url }))
  )
}
