/**
 * Test support for the Postgres tools: the fake platform with a `heroku-postgresql` add-on whose
 * `DATABASE_URL` points at a real local database (`<AGENTLOOP_TEST_PG_URL's database>_herokupg`, created if
 * missing, reached as a role whose password is a planted secret), the fake data API over it, and the layers.
 * Without a PostgreSQL server that accepts connections the SQL tests are skipped, and say so (`.ci/run`
 * starts one and sets AGENTLOOP_TEST_PG_URL).
 */
import { type Tool, Toolkit } from "@agentloop/core"
import { AuditLog, type Grant, HerokuClient } from "@agentloop/heroku-platform"
import * as Postgres from "@agentloop/heroku-platform/Postgres"
import { FakeHerokuPlatform, FakeHerokuPostgres } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"

export const pgUrl = process.env["AGENTLOOP_TEST_PG_URL"] ?? "postgres://postgres:agentloop@127.0.0.1:5432/agentloop_test"

export const pgReachable = await FakeHerokuPostgres.reachable(pgUrl)
if (!pgReachable) {
  console.warn(
    `Skipping the Postgres SQL tool tests: no PostgreSQL server accepts connections at ${new URL(pgUrl).host} (set AGENTLOOP_TEST_PG_URL, or run .ci/run, which starts one).`
  )
}

/** The password of the role the app's DATABASE_URL names: it must never appear in any output. */
export const PLANTED_DB_PASSWORD = "pl4nted-Db-pa55word-7qz"
export const ROLE = "herokupg_app"
/** A second credential of the same database (a read-only role), with its own planted password. */
export const ANALYST = "herokupg_analyst"
export const PLANTED_ANALYST_PASSWORD = "pl4nted-Analyst-pa55-4kx"
export const database = `${new URL(pgUrl).pathname.slice(1) || "postgres"}_herokupg`

const onDatabase = (url: string, statement: (sql: SqlClient.SqlClient) => Effect.Effect<unknown, unknown>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      yield* statement(yield* SqlClient.SqlClient)
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })), Effect.scoped)
  )

const urlFor = (db: string, user?: { name: string; password: string }) => {
  const url = new URL(pgUrl)
  url.pathname = `/${db}`
  if (user !== undefined) {
    url.username = user.name
    url.password = user.password
  }
  return url.toString()
}

/** As the server's admin, on the test database. */
export const admin = (statement: (sql: SqlClient.SqlClient) => Effect.Effect<unknown, unknown>) => onDatabase(urlFor(database), statement)

/** The app's DATABASE_URL: the test database, as a role with a planted password. */
export const appDatabaseUrl = () => urlFor(database, { name: ROLE, password: PLANTED_DB_PASSWORD })

/** Creates the database (if missing), the app's role and a table `orders` with 500 rows (fresh each call). */
export const prepareDatabase = async () => {
  await onDatabase(pgUrl, (sql) =>
    Effect.gen(function* () {
      const found = yield* sql`SELECT 1 FROM pg_database WHERE datname = ${database}`
      // Another test file may create it at the same moment: "already exists" is fine.
      if (found.length === 0) yield* Effect.ignore(sql.unsafe(`CREATE DATABASE "${database}"`))
      const role = yield* sql`SELECT 1 FROM pg_roles WHERE rolname = ${ROLE}`
      if (role.length === 0) yield* Effect.ignore(sql.unsafe(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PLANTED_DB_PASSWORD}'`))
      yield* sql.unsafe(`ALTER ROLE ${ROLE} LOGIN PASSWORD '${PLANTED_DB_PASSWORD}'`)
      const analyst = yield* sql`SELECT 1 FROM pg_roles WHERE rolname = ${ANALYST}`
      if (analyst.length === 0) yield* Effect.ignore(sql.unsafe(`CREATE ROLE ${ANALYST} LOGIN PASSWORD '${PLANTED_ANALYST_PASSWORD}'`))
      yield* sql.unsafe(`ALTER ROLE ${ANALYST} LOGIN PASSWORD '${PLANTED_ANALYST_PASSWORD}'`)
    })
  )
  await admin((sql) =>
    Effect.gen(function* () {
      yield* sql.unsafe("DROP TABLE IF EXISTS orders")
      yield* sql.unsafe("CREATE TABLE orders (id int PRIMARY KEY, note text, big bigint, at timestamptz, blob bytea)")
      yield* sql.unsafe(
        "INSERT INTO orders SELECT i, 'order ' || i, 9007199254740993 + i, '2026-01-01T00:00:00Z'::timestamptz, '\\x0102'::bytea FROM generate_series(1, 500) AS i"
      )
      yield* sql.unsafe(`GRANT ALL ON orders TO ${ROLE}`)
      yield* sql.unsafe(`GRANT SELECT ON orders TO ${ANALYST}`)
      yield* sql.unsafe("DROP EXTENSION IF EXISTS pg_stat_statements")
    })
  )
}

export const TOKEN = "test-token"

/** A platform fake with apps `alpha` and `prod`, each with a Postgres add-on (`alpha` also a second one, and a Redis one). */
export const setupFakes = async () => {
  const platform = await FakeHerokuPlatform.start()
  const data = await FakeHerokuPostgres.start({ platform })
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${platform.url}${path}`, {
      method: "POST",
      headers: { Accept: "application/vnd.heroku+json; version=3", Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify(body)
    })
    return (await response.json()) as Record<string, any>
  }
  const alpha = platform.addApp("alpha")
  const prod = platform.addApp("prod")
  const alphaDb = await post("/apps/alpha/addons", { plan: "heroku-postgresql:essential-0", name: "postgresql-alpha-1234" })
  await post("/apps/alpha/addons", { plan: "heroku-redis:mini", name: "redis-alpha-1" })
  await post("/apps/alpha/addons", { plan: "heroku-postgresql:essential-1", name: "postgresql-alpha-gold", attachment: { name: "HEROKU_POSTGRESQL_GOLD" } })
  const prodDb = await post("/apps/prod/addons", { plan: "heroku-postgresql:standard-0", name: "postgresql-prod-5678" })
  platform.state.configVars.get(alpha["id"])!["DATABASE_URL"] = appDatabaseUrl()
  // The analyst credential, attached as heroku/cli's `addons:attach --credential analyst` does.
  platform.state.attachments.get(alpha["id"])!.push({
    // First in Heroku's order (by id): naming the add-on must still reach it through its default credential.
    id: "00000000-0000-4000-8000-000000000000",
    name: "ANALYST",
    addon: { id: alphaDb["id"], name: alphaDb["name"], app: { id: alpha["id"], name: "alpha" } },
    app: { id: alpha["id"], name: "alpha" },
    namespace: "credential:analyst"
  })
  platform.state.configVars.get(alpha["id"])!["ANALYST_URL"] = urlFor(database, { name: ANALYST, password: PLANTED_ANALYST_PASSWORD })
  platform.state.configVars.get(prod["id"])!["DATABASE_URL"] = appDatabaseUrl()
  return { platform, data, alpha, prod, alphaDb, prodDb, close: () => Promise.all([data.close(), platform.close()]) }
}

export type Fakes = Awaited<ReturnType<typeof setupFakes>>

/** The layers the Postgres tools need, pointed at the fakes (and the local server, without TLS). */
export const harness = (fakes: Fakes, grant: Grant.Grant, options: Postgres.Options = {}, audit: Layer.Layer<AuditLog.AuditLog> = AuditLog.layerMemory) =>
  Postgres.layer(grant, { ssl: false, statementTimeout: "2 seconds", ...options }).pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        HerokuClient.layer({ token: Redacted.make(TOKEN), baseUrl: fakes.platform.url, retryBaseDelay: "5 millis" }),
        Postgres.layerDataClient({ token: Redacted.make(TOKEN), baseUrl: fakes.data.url, retryBaseDelay: "5 millis" }),
        audit
      )
    ),
    Layer.provide(NodeHttpClient.layerUndici)
  )

const contextFor = (name: string, approvedBy?: string): Tool.HandlerContext => ({
  runId: "run-pg",
  toolCallId: `call-${name}`,
  idempotencyKey: `run-pg:call-${name}`,
  ...(approvedBy === undefined ? {} : { approval: { decidedBy: approvedBy } })
})

/** Calls a tool as the loop does (arguments decoded by `Toolkit.execute`); returns the execution and the audit. */
export const run = (fakes: Fakes, grant: Grant.Grant, name: string, args: Record<string, unknown>, options: { approvedBy?: string; pg?: Postgres.Options } = {}) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const resolved = yield* Toolkit.resolve(Postgres.toolkit(grant))
      const execution = yield* Toolkit.execute(resolved, { name, args }, contextFor(name, options.approvedBy))
      const audit = yield* Effect.flatMap(AuditLog.AuditLog, (log) => log.entries)
      return { execution, audit }
    }).pipe(Effect.provide(harness(fakes, grant, options.pg)))
  )

/** Calls a tool's handler directly, with whatever arguments (a direct caller need not decode them). */
export const callDirect = (fakes: Fakes, grant: Grant.Grant, name: string, args: unknown, approvedBy?: string) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const resolved = yield* Toolkit.resolve(Postgres.toolkit(grant))
      const handler = resolved.handlers.get(name)
      if (handler === undefined) return yield* Effect.die(new Error(`no handler for ${name}`))
      const result = yield* Effect.result(handler(args, contextFor(name, approvedBy)))
      const audit = yield* Effect.flatMap(AuditLog.AuditLog, (log) => log.entries)
      return { result, audit }
    }).pipe(Effect.provide(harness(fakes, grant)))
  )
