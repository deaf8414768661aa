/**
 * The Heroku Postgres tools as operations: what `@heroku/mcp-server`'s ten `pg_*` tools run (each calls a
 * `heroku pg:*` command), served here without the CLI. Where each call comes from (heroku/cli v11,
 * `src/commands/pg/*` and `src/lib/pg/*`; the data API host is `utils.pg.host()`: `api.data.heroku.com`,
 * or `HEROKU_DATA_HOST`):
 *
 * - `pg:info`: `GET /client/v11/databases/{addon id}` (data API, Bearer).
 * - `pg:credentials`: `GET /postgres/v0/databases/{addon id}/credentials` (data API, Basic `:<token>`).
 * - `pg:backups`: `GET /client/v11/apps/{app}/transfers` (data API).
 * - `pg:maintenance` (removed from the CLI in v11 for `data:maintenances:info`):
 *   `GET /data/maintenances/v1/{addon id}` (data API).
 * - `pg:upgrade` (split in v10 into `pg:upgrade:prepare|run|...`): `POST /client/v11/databases/{addon id}/upgrade/run`
 *   with `{ version }` (data API).
 * - `pg:psql`, `pg:ps`, `pg:locks`, `pg:outliers`, `pg:kill`: SQL over a direct connection to the add-on's
 *   database (the app's `<ATTACHMENT>_URL` config var); the queries below are the CLI's.
 *
 * The data API is not publicly documented: its answers are parsed leniently (unknown fields kept, except
 * secrets, which are dropped by name).
 *
 * @internal
 */
import { Schema } from "effect"
import * as Id from "../Identifiers.js"
import type { Operation } from "./operationKit.js"

const Str = Schema.String
const opt = Schema.optional
const Rest = [Schema.Record(Schema.String, Schema.Unknown)] as const
const lenient = <const Fields extends Schema.Struct.Fields>(fields: Fields) => Schema.StructWithRest(Schema.Struct(fields), Rest)

const DATABASE = /^[A-Za-z][A-Za-z0-9_-]{0,99}$/u

/** Which database of the app: an attachment name, its config var, or the add-on's name. */
export const DatabaseName = Schema.String.annotate({
  description:
    "Which database of the app: its attachment name (DATABASE, HEROKU_POSTGRESQL_COBALT), its config var (DATABASE_URL) or the add-on's name. Default: DATABASE."
}).check(Schema.isPattern(DATABASE))

const database = { ...{ app: Id.AppIdentity }, database: opt(DatabaseName) }

/** The add-on a tool acted on (every result names it). */
const AddOnRef = lenient({ id: Str, name: Str, attachment: Str })

const PgInfo = lenient({
  addon: AddOnRef,
  plan: opt(Schema.Unknown),
  postgres_version: opt(Schema.Unknown),
  num_bytes: opt(Schema.Unknown),
  num_tables: opt(Schema.Unknown),
  num_connections: opt(Schema.Unknown),
  following: opt(Schema.Unknown),
  info: opt(Schema.Array(lenient({ name: Str, values: Schema.Array(Schema.Unknown) })))
})

const PgCredentials = Schema.Struct({
  addon: AddOnRef,
  credentials: Schema.Array(
    Schema.Struct({
      name: Str,
      state: opt(Str),
      database: opt(Str),
      users: Schema.Array(Schema.Struct({ user: Str, state: opt(Str), connections: opt(Schema.Number) }))
    })
  )
})

const Transfer = lenient({ num: opt(Schema.Number), uuid: opt(Str), from_name: opt(Schema.NullOr(Str)), to_name: opt(Schema.NullOr(Str)) })
const PgBackups = Schema.Struct({ transfers: Schema.Array(Transfer), total: Schema.Number })

const PgMaintenance = lenient({ addon: AddOnRef })
const PgUpgrade = lenient({ addon: AddOnRef, message: Str })

/** Rows from the database, capped (`truncated` says whether more were left out). */
const Rows = Schema.Struct({
  addon: AddOnRef,
  columns: Schema.Array(Str),
  rows: Schema.Array(Schema.Record(Schema.String, Schema.Unknown)),
  rowCount: Schema.Number,
  truncated: Schema.Boolean,
  command: opt(Str)
})

const PgReset = Schema.Struct({ addon: AddOnRef, reset: Schema.Boolean })
const PgKill = Schema.Struct({ addon: AddOnRef, pid: Schema.Number, signalled: Schema.Boolean, force: Schema.Boolean })

const SQL_TEMPLATE = "(SQL on the database)"
const sqlText = Schema.String.annotate({ description: "One SQL statement (several separated by ; are refused by the server)." }).check(
  Schema.isMinLength(1),
  Schema.isMaxLength(100_000)
)
const credential = opt(
  Schema.String.annotate({ description: "Connect as this credential of the database (see heroku_pg_credentials) instead of the default one." }).check(
    Schema.isPattern(/^[a-z][a-z0-9_-]{0,62}$/u)
  )
)
const maxRows = opt(
  Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1000 })).annotate({ description: "At most this many rows back (default 100, at most 1000)." })
)

/** How a Postgres tool is served: one data API request, or SQL over a direct connection. */
export type Via =
  | { readonly kind: "data"; readonly basicAuth?: boolean }
  | { readonly kind: "sql" }

type PgOperation = Operation & { readonly via: Via }

/** A data API call: reads need Read access, writes Full. */
const data = (access: "read" | "write", method: Operation["method"], template: string, via: Via = { kind: "data" }) =>
  ({ group: "postgres", access, scope: access, risks: [access], method, template, via }) as const

/** SQL on the database: it reads the app's config (`DATABASE_URL`), so it needs the read-protected scope. */
const sql = (access: "read" | "write") =>
  ({ group: "postgres", access, scope: "read-protected", risks: [access], method: access === "read" ? "GET" : "POST", template: SQL_TEMPLATE, via: { kind: "sql" } }) as const

export const postgresOperations: ReadonlyArray<PgOperation> = [
  {
    ...data("read", "GET", "/client/v11/databases/{addon}"),
    tool: "heroku_pg_info",
    description:
      "Show the status of an app's Postgres databases (all of them, or the one named): plan, version, size, tables, connections, followers (pg:info).",
    parameters: {
      app: Id.AppIdentity,
      database: opt(
        Schema.String.annotate({
          description: "One database: its attachment name (DATABASE), its config var (DATABASE_URL) or the add-on's name. Default: every Postgres database of the app."
        }).check(Schema.isPattern(DATABASE))
      )
    },
    result: Schema.Struct({ databases: Schema.Array(PgInfo) })
  },
  {
    ...data("read", "GET", "/postgres/v0/databases/{addon}/credentials", { kind: "data", basicAuth: true }),
    tool: "heroku_pg_credentials",
    description: "List a Postgres database's credentials: their names, state and database users (never their passwords) (pg:credentials).",
    parameters: database,
    result: PgCredentials
  },
  {
    ...data("read", "GET", "/client/v11/apps/{app}/transfers"),
    tool: "heroku_pg_backups",
    description: "List an app's Postgres backups, restores and copies, newest first: number, state, size, times (pg:backups).",
    parameters: { app: Id.AppIdentity },
    result: PgBackups
  },
  {
    ...data("read", "GET", "/data/maintenances/v1/{addon}"),
    tool: "heroku_pg_maintenance",
    description: "Show a Postgres database's maintenance: whether one is required or scheduled, when, its window and status (pg:maintenance).",
    parameters: database,
    result: PgMaintenance
  },
  {
    ...data("write", "POST", "/client/v11/databases/{addon}/upgrade/run"),
    risks: ["write", "takes_offline"],
    tool: "heroku_pg_upgrade",
    description:
      "Upgrade a Postgres database's major version (Essential plans and followers; on Standard and higher leaders it runs an upgrade prepared before). The database is unavailable meanwhile (pg:upgrade:run).",
    parameters: { ...database, version: opt(Schema.String.check(Schema.isPattern(/^[0-9]{1,3}$/u)).annotate({ description: "e.g. 17; default the latest supported" })) },
    result: PgUpgrade
  },
  {
    ...sql("read"),
    risks: ["read", "exposes_secrets"],
    tool: "heroku_pg_psql",
    description:
      "Run one read-only SQL statement on a Postgres database (a READ ONLY transaction with a statement timeout; writes are refused): rows as JSON, capped (pg:psql).",
    parameters: { ...database, sql: sqlText, maxRows, credential },
    result: Rows
  },
  {
    ...sql("write"),
    risks: ["write", "destructive"],
    approval: "always",
    tool: "heroku_pg_psql_write",
    description:
      "Run one SQL statement that may change data or schema on a Postgres database, committed when it succeeds (with a statement timeout). Always needs a human's approval (pg:psql).",
    parameters: { ...database, sql: sqlText, maxRows, credential },
    result: Rows
  },
  {
    ...sql("read"),
    tool: "heroku_pg_ps",
    description: "List the queries running on a Postgres database: pid, state, user, how long, whether waiting, the query (pg:ps).",
    parameters: { ...database, verbose: opt(Schema.Boolean.annotate({ description: "Also show idle sessions." })) },
    result: Rows
  },
  {
    ...sql("read"),
    tool: "heroku_pg_locks",
    description: "List the queries holding exclusive locks on a Postgres database: pid, relation, granted, age, query (pg:locks).",
    parameters: { ...database, truncate: opt(Schema.Boolean.annotate({ description: "Cut queries to 40 characters." })) },
    result: Rows
  },
  {
    ...sql("read"),
    tool: "heroku_pg_outliers",
    description:
      "Show the queries with the longest total execution time on a Postgres database, from pg_stat_statements: total time, share, calls, I/O time (pg:outliers).",
    parameters: {
      ...database,
      num: opt(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 })).annotate({ description: "How many queries (default 10)." })),
      truncate: opt(Schema.Boolean.annotate({ description: "Cut queries to 40 characters." }))
    },
    result: Rows
  },
  {
    ...sql("write"),
    tool: "heroku_pg_outliers_reset",
    description: "Reset the statistics pg_stat_statements has gathered on a Postgres database, so heroku_pg_outliers starts afresh (pg:outliers --reset).",
    parameters: database,
    result: PgReset
  },
  {
    ...sql("write"),
    risks: ["write", "changes_runtime"],
    approval: "always",
    tool: "heroku_pg_kill",
    description:
      "Cancel a query running on a Postgres database (force: end its whole connection) by the pid heroku_pg_ps shows. Always needs a human's approval (pg:kill).",
    parameters: {
      ...database,
      pid: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 2_147_483_647 })).annotate({ description: "The backend's pid (from heroku_pg_ps)." }),
      force: opt(Schema.Boolean.annotate({ description: "Terminate the connection (pg_terminate_backend), not only the query." }))
    },
    result: PgKill
  }
]

// ---------------------------------------------------------------------------------------------------------
// The CLI's queries (heroku/cli v11 `src/commands/pg/{ps,locks,outliers,kill}.ts`).

/** pg:ps: does `pg_stat_activity` still have the pre-9.6 `waiting` column? */
export const psWaitingColumnQuery =
  "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'pg_catalog' AND table_name = 'pg_stat_activity' AND column_name = 'waiting') AS waiting"

export const psQuery = (verbose: boolean, waitingColumn: boolean) => `SELECT pid,
       state,
       application_name AS source,
       usename AS username,
       age(now(), xact_start)::text AS running_for,
       xact_start AS transaction_start,
       ${waitingColumn ? "waiting" : "wait_event IS NOT NULL AS waiting"},
       query
FROM pg_stat_activity
WHERE query <> '<insufficient privilege>'${verbose ? "" : " AND state <> 'idle'"}
  AND pid <> pg_backend_pid()
ORDER BY query_start DESC`

const truncated = (column: string, truncate: boolean) =>
  truncate ? `CASE WHEN length(${column}) <= 40 THEN ${column} ELSE substr(${column}, 0, 39) || '…' END` : column

export const locksQuery = (truncate: boolean) => `SELECT
  pg_stat_activity.pid,
  pg_class.relname,
  pg_locks.transactionid::text AS transactionid,
  pg_locks.granted,
  ${truncated("pg_stat_activity.query", truncate)} AS query_snippet,
  age(now(), pg_stat_activity.query_start)::text AS "age"
FROM pg_stat_activity, pg_locks
  LEFT OUTER JOIN pg_class ON pg_locks.relation = pg_class.oid
WHERE pg_stat_activity.query <> '<insufficient privilege>'
  AND pg_locks.pid = pg_stat_activity.pid
  AND pg_locks.mode = 'ExclusiveLock'
  AND pg_stat_activity.pid <> pg_backend_pid()
ORDER BY query_start`

/** pg:outliers: the server's major version (column names changed in 13 and 17) and where pg_stat_statements lives. */
export const outliersSetupQuery = `SELECT current_setting('server_version_num')::int / 10000 AS major,
  (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements') AS schema`

export const outliersQuery = (major: number, schema: string, limit: number, truncate: boolean) => {
  const total = major >= 13 ? "total_exec_time" : "total_time"
  const [read, write] = major >= 17 ? ["shared_blk_read_time", "shared_blk_write_time"] : ["blk_read_time", "blk_write_time"]
  return `SELECT
  (interval '1 millisecond' * ${total})::text AS total_exec_time,
  to_char((${total} / sum(${total}) OVER ()) * 100, 'FM90D0') || '%' AS prop_exec_time,
  to_char(calls, 'FM999G999G999G990') AS ncalls,
  (interval '1 millisecond' * (${read} + ${write}))::text AS sync_io_time,
  ${truncated("query", truncate)} AS query
FROM "${schema.replaceAll('"', '""')}".pg_stat_statements
WHERE userid = (SELECT usesysid FROM pg_user WHERE usename = current_user LIMIT 1)
ORDER BY ${total} DESC
LIMIT ${limit}`
}

/**
 * pg:outliers --reset: Essential and Advanced databases reset through Heroku's own `_heroku` function (the
 * role may not call the extension's), others through the extension's.
 */
export const outliersResetQuery = (plan: string, schema: string) =>
  /:(essential|advanced)/.test(plan) ? "SELECT _heroku.pg_stat_statements_reset()" : `SELECT "${schema.replaceAll('"', '""')}".pg_stat_statements_reset()`

/** pg:kill: `pg_cancel_backend`, or `pg_terminate_backend` with `--force`; the pid is a bound parameter here. */
export const killQuery = (force: boolean) => `SELECT ${force ? "pg_terminate_backend" : "pg_cancel_backend"}($1::int) AS signalled`
