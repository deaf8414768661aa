/**
 * One SQL statement on a Heroku Postgres database, over one direct connection (`@effect/sql-pg`'s
 * `PgConnection`, its own protocol code: no other driver): in a `READ ONLY` transaction unless the tool
 * writes, with a statement timeout, rows capped by count and by bytes. Only this module (and so only the
 * `Postgres` entry) loads `@effect/sql-pg`.
 *
 * @internal
 */
import * as PgConnection from "@effect/sql-pg/PgConnection"
import { Duration, Effect, Redacted, Stream } from "effect"
import type { SqlError } from "effect/sql/SqlError"

export interface SqlOptions {
  /** TLS for the connection: Heroku requires it (`{ rejectUnauthorized: false }`, as Heroku's own docs for Node say). */
  readonly ssl: boolean | { readonly rejectUnauthorized?: boolean; readonly ca?: string | ReadonlyArray<string> }
  readonly statementTimeout: Duration.Duration
  readonly connectTimeout: Duration.Duration
  readonly maxRows: number
  readonly maxBytes: number
}

export interface Rows {
  readonly columns: ReadonlyArray<string>
  readonly rows: ReadonlyArray<Record<string, unknown>>
  readonly rowCount: number
  readonly truncated: boolean
  readonly command?: string
}

/** A failure as the tool reports it (the handler scrubs its message of every known secret). */
export interface SqlFailure {
  readonly error: string
  readonly message: string
}

/** A value as JSON can carry it: bigints and dates as text, bytes as `\x` hex (cut at 256 bytes). */
export const jsonValue = (value: unknown): unknown => {
  if (typeof value === "bigint") return value.toString()
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString()
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value.subarray(0, 256)).toString("hex")}${value.length > 256 ? "…" : ""}`
  if (Array.isArray(value)) return value.map(jsonValue)
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonValue(v)]))
  return value
}

const failureOf = (error: SqlError): SqlFailure => {
  const reason = error.reason
  // The server's own words are on the driver error (`message` is not enumerable there); the handler scrubs them.
  const cause = (reason.cause ?? {}) as { code?: unknown; message?: unknown; detail?: unknown; hint?: unknown }
  const said = [cause.message, cause.detail, cause.hint].filter((part): part is string => typeof part === "string" && part.length > 0)
  return {
    error: reason._tag === "StatementTimeoutError" ? "PostgresStatementTimeout" : `Postgres${reason._tag}`,
    message: `${said.length > 0 ? said.join(" ") : reason.message}${typeof cause.code === "string" ? ` (SQLSTATE ${cause.code})` : ""}`
  }
}

/** One statement in the session: rows (as JSON values) capped by count and bytes. */
export type Query = (sql: string, params?: ReadonlyArray<unknown>, maxRows?: number) => Effect.Effect<Rows, SqlError>

/**
 * Connects, runs `use` in one transaction and closes. Each query is one statement (the extended protocol
 * refuses several). A `read` session runs after `BEGIN READ ONLY` and a first query (so a later
 * `SET TRANSACTION READ WRITE` is refused: the snapshot is taken) and is rolled back; a `write` session is
 * committed when `use` succeeds. The server's `statement_timeout` bounds every statement, and a client-side
 * timeout a little longer bounds the whole (and cancels it). Reads stream: the query is cancelled once
 * `maxRows` or `maxBytes` is reached.
 */
export const session = <A>(
  url: Redacted.Redacted<string>,
  options: SqlOptions,
  mode: "read" | "write",
  use: (query: Query) => Effect.Effect<A, SqlError | SqlFailure>
): Effect.Effect<A, SqlFailure> => {
  const timeoutMs = Math.max(1, Math.round(Duration.toMillis(options.statementTimeout)))
  return Effect.scoped(
    Effect.gen(function* () {
      const connection = yield* PgConnection.make({
        url,
        ssl: options.ssl as PgConnection.Config["ssl"],
        connectTimeout: options.connectTimeout,
        applicationName: "agentloop-heroku-platform",
        startupParameters: {
          statement_timeout: String(timeoutMs),
          lock_timeout: String(timeoutMs),
          idle_in_transaction_session_timeout: String(timeoutMs * 4)
        }
      })
      yield* connection.query(mode === "read" ? "BEGIN READ ONLY" : "BEGIN", [], false)
      if (mode === "read") yield* connection.query("SELECT 1", [], false)
      const query: Query = (sql, params = [], max = options.maxRows) =>
        Effect.suspend(() => {
          const limit = Math.min(max, options.maxRows)
          const rows: Array<Record<string, unknown>> = []
          let bytes = 0
          let truncated = false
          const keep = (row: Record<string, unknown>): boolean => {
            const shown = jsonValue(row) as Record<string, unknown>
            const size = JSON.stringify(shown)?.length ?? 0
            if (rows.length >= limit || bytes + size > options.maxBytes) {
              truncated = true
              return false
            }
            bytes += size
            rows.push(shown)
            return true
          }
          const done = (rowCount: number, command?: string): Rows => ({
            columns: rows.length === 0 ? [] : Object.keys(rows[0]!),
            rows,
            rowCount,
            truncated,
            ...(command === undefined ? {} : { command })
          })
          return mode === "read"
            ? Effect.as(Stream.runDrain(Stream.takeWhile(connection.stream(sql, params), keep)), undefined).pipe(Effect.map(() => done(rows.length)))
            : Effect.map(connection.query(sql, params, false), (result) => {
                for (const row of result.rows) if (!keep(row)) break
                return done(result.rowCount, result.command)
              })
        })
      const result = yield* use(query)
      yield* connection.query(mode === "read" ? "ROLLBACK" : "COMMIT", [], false)
      return result
    })
  ).pipe(
    Effect.mapError((error) => ("reason" in error ? failureOf(error) : error)),
    Effect.timeoutOrElse({
      duration: Duration.millis(timeoutMs + Duration.toMillis(options.connectTimeout) + 2_000),
      orElse: () => Effect.fail<SqlFailure>({ error: "PostgresStatementTimeout", message: `the statement did not finish within ${timeoutMs} ms` })
    })
  )
}
