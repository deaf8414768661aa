/**
 * The Postgres tools (`@agentloop/heroku-platform/Postgres`): what Heroku's ten `pg_*` MCP tools do, through
 * the grant, approval, audit and redaction of the Platform tools. Data API tools run against
 * `FakeHerokuPostgres`; SQL tools against a real local database (skipped, saying so, without a server).
 */
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Agent, AgentBackend, Approval, RunStore, Toolkit } from "@agentloop/core"
import { AuditLog, Grant, HerokuTools } from "@agentloop/heroku-platform"
import * as Postgres from "@agentloop/heroku-platform/Postgres"
import { PgClient } from "@effect/sql-pg"
import { ScriptedModel } from "@agentloop/testing"
import { Effect, Fiber, Layer, Redacted, Result } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { admin, appDatabaseUrl, callDirect, type Fakes, harness, PLANTED_ANALYST_PASSWORD, PLANTED_DB_PASSWORD, pgReachable, prepareDatabase, run, setupFakes } from "./postgres.js"

const read = Grant.make({ agent: "pg-reader", access: { postgres: "read" } })
const full = Grant.make({ agent: "pg-admin", access: { postgres: "full" } })
const onlyAlpha = Grant.make({ agent: "alpha-only", access: { postgres: "full" }, apps: ["alpha"] })
const noApprovals = Grant.make({ agent: "pg-ops", access: { postgres: "full" }, approvalFor: [] })

let fakes: Fakes
beforeAll(async () => {
  if (pgReachable) await prepareDatabase()
  fakes = await setupFakes()
})
afterAll(() => fakes?.close())

/** Every output of a call, as one text: the model's result, the audit entries. */
const everything = (outcome: { execution: unknown; audit: unknown }) => JSON.stringify(outcome)

describe("the Postgres tools: offered by grant, with approvals by risk", () => {
  it("deny by default; Read offers the reads, Full the writes too; the Platform toolkit never offers them", () => {
    expect(Postgres.toolkit(Grant.none).names).toEqual([])
    expect(Postgres.toolkit(read).names).toEqual([
      "heroku_pg_info",
      "heroku_pg_credentials",
      "heroku_pg_backups",
      "heroku_pg_maintenance",
      "heroku_pg_psql",
      "heroku_pg_ps",
      "heroku_pg_locks",
      "heroku_pg_outliers"
    ])
    expect(Postgres.toolkit(full).names).toEqual(Postgres.operations.map((o) => o.tool))
    expect(HerokuTools.toolkit(full).names).toEqual([])
    expect(Grant.fromJson(JSON.stringify({ access: { postgres: "read" } })).pipe(Effect.runSync).access).toEqual({ postgres: "read" })
  })

  it("approval defaults: psql by default (it can read anything); upgrade, psql_write and kill always, and autoApprove cannot waive the last two", () => {
    const approval = (grant: Grant.Grant) => Object.fromEntries(Postgres.operations.map((o) => [o.tool, Grant.needsApproval(grant, o)]))
    expect(approval(full)).toEqual({
      heroku_pg_info: false,
      heroku_pg_credentials: false,
      heroku_pg_backups: false,
      heroku_pg_maintenance: false,
      heroku_pg_upgrade: true,
      heroku_pg_psql: true,
      heroku_pg_psql_write: true,
      heroku_pg_ps: false,
      heroku_pg_locks: false,
      heroku_pg_outliers: false,
      heroku_pg_outliers_reset: true,
      heroku_pg_kill: true
    })
    const waived = Grant.make({ access: { postgres: "full" }, approvalFor: [], autoApprove: ["heroku_pg_psql_write", "heroku_pg_kill", "heroku_pg_upgrade"] })
    expect(approval(waived)).toMatchObject({ heroku_pg_psql: false, heroku_pg_psql_write: true, heroku_pg_kill: true, heroku_pg_upgrade: false })
    expect(Postgres.annotations("heroku_pg_kill")).toMatchObject({ readOnlyHint: false, destructiveHint: true })
    expect(Postgres.annotations("heroku_pg_psql")).toMatchObject({ readOnlyHint: true, destructiveHint: false })
  })

  it("importing the main entry loads no Postgres driver: no module it reaches imports @effect/sql-pg or the Postgres module", () => {
    const src = resolve(dirname(fileURLToPath(import.meta.url)), "../src")
    const seen = new Set<string>()
    const visit = (file: string) => {
      if (seen.has(file)) return
      seen.add(file)
      const text = readFileSync(file, "utf8")
      expect(text, file).not.toMatch(/from "@effect\/sql-pg|import\("@effect\/sql-pg/)
      for (const [, spec] of text.matchAll(/from "(\.[^"]+)"/g)) visit(resolve(dirname(file), spec!.replace(/\.js$/, ".ts")))
    }
    visit(join(src, "index.ts"))
    expect([...seen].some((f) => f.endsWith("HerokuTools.ts"))).toBe(true)
    expect([...seen].filter((f) => /[Pp]ostgres/.test(f))).toEqual([])
    expect(readdirSync(src)).toContain("Postgres.ts")
    expect(readFileSync(join(src, "internal/postgresSql.ts"), "utf8")).toContain('from "@effect/sql-pg/PgConnection"')
  })
})

describe("data API tools, against FakeHerokuPostgres", () => {
  it("heroku_pg_info: every Postgres database of the app (or the one named), each add-on named; the password and URL Heroku answers with never shown", async () => {
    const all = await run(fakes, read, "heroku_pg_info", { app: "alpha" })
    expect(all.execution.isError).toBe(false)
    const databases = (all.execution.value as { databases: Array<Record<string, unknown>> }).databases
    // The Redis add-on is not among them.
    expect(databases.map((d) => [(d["addon"] as { attachment: string }).attachment, d["plan"]]).sort()).toEqual([
      ["DATABASE", "essential-0"],
      ["HEROKU_POSTGRESQL_GOLD", "essential-1"]
    ])
    const outcome = await run(fakes, read, "heroku_pg_info", { app: "alpha", database: "DATABASE" })
    expect(outcome.execution.value).toEqual({ databases: [expect.objectContaining({
      addon: { id: fakes.alphaDb["id"], name: "postgresql-alpha-1234", attachment: "DATABASE" },
      plan: "essential-0",
      postgres_version: "16.4",
      info: expect.arrayContaining([{ name: "PG Version", values: ["16.4"] }])
    })] })
    for (const database of [...databases, ...(outcome.execution.value as { databases: Array<object> }).databases]) {
      expect(database).not.toHaveProperty("database_password")
      expect(database).not.toHaveProperty("resource_url")
    }
    expect(everything(all)).not.toContain(PLANTED_DB_PASSWORD)
    expect(everything(outcome)).not.toContain(PLANTED_DB_PASSWORD)
    expect(everything(outcome)).not.toContain(appDatabaseUrl())
    // The data API got a Bearer token, and the audit names the app by id and name.
    expect(fakes.data.requests.at(-1)).toMatchObject({ method: "GET", path: `/client/v11/databases/${fakes.alphaDb["id"]}`, authorization: "bearer", status: 200 })
    expect(outcome.audit.map((e) => [e.kind, e.decision, e.outcome, e.app, e.appId])).toEqual([
      ["intent", "allowed", "pending", "alpha", undefined],
      ["outcome", "allowed", "success", "alpha", fakes.alpha["id"]]
    ])
  })

  it("heroku_pg_credentials: names, states and users over HTTP Basic; no password of any credential anywhere", async () => {
    const planted = "pl4nted-cred-pa55word-r8"
    fakes.data.database(fakes.alphaDb["id"]).credentials = [
      { name: "analyst", state: "active", users: [{ user: "analyst_user", password: planted, state: "active", connections: 0 }] }
    ]
    const outcome = await run(fakes, read, "heroku_pg_credentials", { app: "alpha", database: "DATABASE_URL" })
    expect(outcome.execution.value).toEqual({
      addon: { id: fakes.alphaDb["id"], name: "postgresql-alpha-1234", attachment: "DATABASE" },
      credentials: [
        { name: "default", state: "active", database: new URL(appDatabaseUrl()).pathname.slice(1), users: [{ user: "herokupg_app", state: "active", connections: 2 }] },
        { name: "analyst", state: "active", database: expect.any(String), users: [{ user: "analyst_user", state: "active", connections: 0 }] }
      ]
    })
    expect(fakes.data.requests.at(-1)).toMatchObject({ path: `/postgres/v0/databases/${fakes.alphaDb["id"]}/credentials`, authorization: "basic", status: 200 })
    expect(everything(outcome)).not.toContain(planted)
    expect(everything(outcome)).not.toContain(PLANTED_DB_PASSWORD)
  })

  it("heroku_pg_backups: newest first; the transfers' signed URLs never shown", async () => {
    const signed = "https://s3.example.com/backup?X-Amz-Signature=pl4ntedsig0123456789"
    fakes.data.database(fakes.alphaDb["id"]).transfers = [
      { uuid: "t1", num: 1, from_name: "DATABASE", to_name: "BACKUP", from_url: appDatabaseUrl(), to_url: signed, created_at: "2026-01-01T00:00:00Z", succeeded: true },
      { uuid: "t2", num: 2, from_name: "DATABASE", to_name: "BACKUP", from_url: appDatabaseUrl(), to_url: signed, created_at: "2026-02-01T00:00:00Z", succeeded: true }
    ]
    const outcome = await run(fakes, read, "heroku_pg_backups", { app: "alpha" })
    expect(outcome.execution.value).toMatchObject({ total: 2, transfers: [{ num: 2, succeeded: true }, { num: 1 }] })
    expect(fakes.data.requests.at(-1)).toMatchObject({ path: "/client/v11/apps/alpha/transfers", status: 200 })
    expect(everything(outcome)).not.toContain("pl4ntedsig")
    expect(everything(outcome)).not.toContain(PLANTED_DB_PASSWORD)
  })

  it("heroku_pg_maintenance: the add-on's maintenance status and window", async () => {
    const outcome = await run(fakes, read, "heroku_pg_maintenance", { app: "alpha", database: "postgresql-alpha-1234" })
    expect(outcome.execution.value).toMatchObject({
      status: "none",
      window: expect.stringContaining("Thursdays"),
      addon: { id: fakes.alphaDb["id"], name: "postgresql-alpha-1234", attachment: "DATABASE", plan: "heroku-postgresql:essential-0", kind: "heroku-postgresql" },
      app: { name: "alpha" }
    })
    expect(fakes.data.requests.at(-1)).toMatchObject({ path: `/data/maintenances/v1/${fakes.alphaDb["id"]}`, status: 200 })
  })

  it("heroku_pg_upgrade: refused and audited without an approval (nothing sent); with one, sent as { version } and audited", async () => {
    const before = fakes.data.requests.length
    const refused = await run(fakes, full, "heroku_pg_upgrade", { app: "alpha", version: "17" })
    expect(refused.execution.isError).toBe(true)
    expect(fakes.data.requests.length).toBe(before)
    const approved = await run(fakes, full, "heroku_pg_upgrade", { app: "alpha", version: "17" }, { approvedBy: "dana" })
    expect(approved.execution.value).toMatchObject({ message: expect.stringContaining("Postgres 17"), addon: { name: "postgresql-alpha-1234" } })
    expect(fakes.data.requests.at(-1)).toMatchObject({ method: "POST", path: `/client/v11/databases/${fakes.alphaDb["id"]}/upgrade/run`, body: { version: "17" }, status: 200 })
    expect(approved.audit.map((e) => [e.kind, e.decision, e.by, e.outcome])).toEqual([
      ["intent", "approved", "dana", "pending"],
      ["outcome", "approved", "dana", "success"]
    ])
    // The data API's own refusal reaches the model as a typed failure (a Standard leader needs prepare first).
    const standard = await run(fakes, full, "heroku_pg_upgrade", { app: "prod" }, { approvedBy: "dana" })
    expect(standard.execution.value).toMatchObject({ error: { error: "HerokuInvalidParams", status: 422, message: expect.stringContaining("pg:upgrade:prepare") } })
  })

  it("the database argument: an unknown attachment names the app's attachments; a Redis add-on is not Postgres", async () => {
    const missing = await run(fakes, read, "heroku_pg_info", { app: "alpha", database: "HEROKU_POSTGRESQL_PINK" })
    expect(missing.execution.value).toMatchObject({ error: { error: "DatabaseNotFound", message: expect.stringContaining("DATABASE, HEROKU_POSTGRESQL_GOLD, HEROKU_REDIS") } })
    const redis = await run(fakes, read, "heroku_pg_info", { app: "alpha", database: "HEROKU_REDIS" })
    expect(redis.execution.value).toMatchObject({ error: { error: "NotPostgres" } })
    expect(redis.audit.at(-1)).toMatchObject({ kind: "outcome", outcome: "error" })
  })

  it("data API misbehaviour: a 429 waits for its Retry-After and succeeds; an HTML 503 is retried; an HTML 500 is a typed error that echoes nothing", async () => {
    fakes.data.inject({ status: 429, headers: { "Retry-After": "1" }, path: /\/client\/v11\/databases\// })
    const started = Date.now()
    const limited = await run(fakes, read, "heroku_pg_info", { app: "alpha", database: "DATABASE" })
    expect(limited.execution.isError).toBe(false)
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    expect(fakes.data.requests.slice(-2).map((r) => r.status)).toEqual([429, 200])

    fakes.data.inject({ status: 503, raw: "<html>maintenance</html>", path: /\/data\/maintenances\// })
    const unavailable = await run(fakes, read, "heroku_pg_maintenance", { app: "alpha" })
    expect(unavailable.execution.isError).toBe(false)
    expect(fakes.data.requests.slice(-2).map((r) => r.status)).toEqual([503, 200])

    fakes.data.inject({ status: 500, raw: `<html>oops ${PLANTED_DB_PASSWORD}</html>`, path: /\/client\/v11\/databases\//, times: 4 })
    const broken = await run(fakes, read, "heroku_pg_info", { app: "alpha", database: "DATABASE" })
    expect(broken.execution.value).toMatchObject({ error: { error: "HerokuApiError", status: 500, message: expect.stringContaining("not shown") } })
    expect(everything(broken)).not.toContain(PLANTED_DB_PASSWORD)
    expect(broken.audit.at(-1)).toMatchObject({ kind: "outcome", outcome: "error" })
    // A GET is retried on a 5xx (3 retries by default): four answers, all used up.
    expect(fakes.data.requests.slice(-4).map((r) => r.status)).toEqual([500, 500, 500, 500])
  })
})

describe("grants: the app list and argument types are checked by the handler itself", () => {
  it("an app outside the grant: refused, audited, and neither the data API nor the database is reached", async () => {
    const before = fakes.data.requests.length
    const platformBefore = fakes.platform.requests.length
    for (const tool of ["heroku_pg_info", "heroku_pg_psql"]) {
      const outcome = await run(fakes, onlyAlpha, tool, { app: "prod", sql: "SELECT 1" }, { approvedBy: "dana" })
      expect(outcome.execution.value).toMatchObject({ error: { error: "GrantDenied" } })
      expect(outcome.audit).toEqual([expect.objectContaining({ kind: "refusal", decision: "refused", by: "grant", outcome: "not_run", tool })])
    }
    expect(fakes.data.requests.length).toBe(before)
    // Only the app itself was looked up (to compare it with the grant), nothing of it was read.
    expect(fakes.platform.requests.slice(platformBefore).filter((r) => r.path.startsWith(`/apps/${fakes.prod["id"]}/`) || r.path.startsWith("/apps/prod/"))).toEqual([])
  })

  const confused: ReadonlyArray<readonly [string, unknown]> = [
    ["an array", ["alpha"]],
    ["an object whose toString says alpha", { toString: () => "alpha" }],
    ["a String object", new String("alpha")]
  ]
  for (const [label, app] of confused) {
    it(`app given as ${label}: InvalidArguments, a refusal entry, nothing sent`, async () => {
      const data = fakes.data.requests.length
      const platform = fakes.platform.requests.length
      for (const tool of Postgres.operations.map((o) => o.tool)) {
        const { result, audit } = await callDirect(fakes, onlyAlpha, tool, { app, sql: "DELETE FROM orders", pid: 1 }, "dana")
        expect(Result.isFailure(result), tool).toBe(true)
        expect(Result.isFailure(result) && result.failure).toMatchObject({ error: "InvalidArguments" })
        expect(audit).toEqual([expect.objectContaining({ kind: "refusal", by: "handler", outcome: "not_run" })])
        expect(audit[0]).not.toHaveProperty("app")
      }
      expect(fakes.data.requests.length).toBe(data)
      expect(fakes.platform.requests.length).toBe(platform)
    })
  }

  it("two grants' layers in one context: the alpha agent cannot reach prod through the prod layer's handlers", async () => {
    const onlyProd = Grant.make({ agent: "prod-only", access: { postgres: "full" }, apps: ["prod"] })
    const outcome = await Effect.runPromise(
      Effect.gen(function* () {
        const resolved = yield* Toolkit.resolve(Postgres.toolkit(onlyAlpha))
        const execution = yield* Toolkit.execute(resolved, { name: "heroku_pg_info", args: { app: "prod" } }, { runId: "iso", toolCallId: "c1", idempotencyKey: "iso:c1" })
        return { execution, audit: yield* Effect.flatMap(AuditLog.AuditLog, (log) => log.entries) }
      }).pipe(Effect.provide(Layer.merge(harness(fakes, onlyAlpha), harness(fakes, onlyProd))))
    )
    expect(outcome.execution.value).toMatchObject({ error: { error: "GrantDenied" } })
  })

  it("a Read grant's handlers cannot be made to write: psql_write and kill are not there to call", async () => {
    const outcome = await run(fakes, read, "heroku_pg_psql_write", { app: "alpha", sql: "DELETE FROM orders" })
    expect(outcome.execution).toMatchObject({ isError: true, errorKind: "UnknownTool" })
  })
})

describe.skipIf(!pgReachable)("SQL tools, against a real database", () => {
  it("heroku_pg_psql: rows as JSON (bigints and dates as text, bytes as hex), capped; the add-on named", async () => {
    const outcome = await run(fakes, noApprovals, "heroku_pg_psql", { app: "alpha", sql: "SELECT id, note, big, at, blob FROM orders ORDER BY id", maxRows: 3 })
    expect(outcome.execution.value).toEqual({
      addon: { id: fakes.alphaDb["id"], name: "postgresql-alpha-1234", attachment: "DATABASE" },
      columns: ["id", "note", "big", "at", "blob"],
      rows: [1, 2, 3].map((id) => ({ id, note: `order ${id}`, big: String(9007199254740993n + BigInt(id)), at: "2026-01-01T00:00:00.000Z", blob: "\\x0102" })),
      rowCount: 3,
      truncated: true
    })
    expect(outcome.audit.map((e) => [e.kind, e.decision, e.outcome])).toEqual([
      ["intent", "allowed", "pending"],
      ["outcome", "allowed", "success"]
    ])
  })

  it("heroku_pg_psql is read only: a write, a switch to READ WRITE and a second statement are refused, and nothing changed", async () => {
    for (const sql of [
      "DELETE FROM orders",
      "SET TRANSACTION READ WRITE",
      "SELECT 1; DELETE FROM orders",
      "CREATE TABLE sneaky (id int)",
      "WITH gone AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM gone"
    ]) {
      const outcome = await run(fakes, noApprovals, "heroku_pg_psql", { app: "alpha", sql })
      expect(outcome.execution.isError, sql).toBe(true)
      expect(outcome.audit.at(-1), sql).toMatchObject({ kind: "outcome", outcome: "error" })
    }
    const refused = await run(fakes, noApprovals, "heroku_pg_psql", { app: "alpha", sql: "DELETE FROM orders" })
    expect(refused.execution.value).toMatchObject({ error: { message: expect.stringMatching(/read-only transaction.*25006/) } })
    await admin((sql) =>
      Effect.gen(function* () {
        expect(yield* sql`SELECT count(*)::int AS n FROM orders`).toEqual([{ n: 500 }])
        expect(yield* sql`SELECT to_regclass('sneaky') AS t`).toEqual([{ t: null }])
      })
    )
  })

  it("heroku_pg_psql: a statement past its timeout is cancelled (typed), promptly; a huge result stops at the byte cap", async () => {
    const started = Date.now()
    const slow = await run(fakes, noApprovals, "heroku_pg_psql", { app: "alpha", sql: "SELECT pg_sleep(30)" }, { pg: { statementTimeout: "300 millis" } })
    expect(slow.execution.value).toMatchObject({ error: { error: "PostgresStatementTimeout" } })
    expect(Date.now() - started).toBeLessThan(10_000)
    const huge = await run(fakes, noApprovals, "heroku_pg_psql", { app: "alpha", sql: "SELECT i, repeat('x', 1000) AS pad FROM generate_series(1, 10000000) AS i" }, { pg: { maxBytes: 10_000, maxRows: 1000 } })
    expect(huge.execution.value).toMatchObject({ truncated: true })
    const rows = (huge.execution.value as { rows: Array<unknown> }).rows
    expect(rows.length).toBeGreaterThan(0)
    expect(JSON.stringify(rows).length).toBeLessThanOrEqual(10_000 + rows.length)
  })

  it("an interrupted psql: its query is cancelled on the server, and the audit keeps the intent and an interrupted outcome", async () => {
    const entries: Array<AuditLog.Entry> = []
    const fiber = Effect.runFork(
      Effect.gen(function* () {
        const resolved = yield* Toolkit.resolve(Postgres.toolkit(noApprovals))
        return yield* Toolkit.execute(resolved, { name: "heroku_pg_psql", args: { app: "alpha", sql: "SELECT pg_sleep(25) AS slept" } }, { runId: "run-int", toolCallId: "c-int", idempotencyKey: "run-int:c-int" })
      }).pipe(Effect.provide(harness(fakes, noApprovals, { statementTimeout: "60 seconds" }, AuditLog.layer((entry) => Effect.sync(() => void entries.push(entry))))))
    )
    const sleeping = () =>
      new Promise<number>((resolve) =>
        admin((sql) => Effect.map(sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(25)%' AND state = 'active'`, (rows) => resolve((rows[0] as { n: number }).n)))
      )
    for (let i = 0; i < 100 && (await sleeping()) === 0; i++) await new Promise((r) => setTimeout(r, 50))
    expect(await sleeping()).toBe(1)
    await Effect.runPromise(Fiber.interrupt(fiber))
    let left = 1
    for (let i = 0; i < 100 && left > 0; i++) {
      await new Promise((r) => setTimeout(r, 50))
      left = await sleeping()
    }
    expect(left).toBe(0)
    expect(entries.map((e) => [e.kind, e.outcome])).toEqual([
      ["intent", "pending"],
      ["outcome", "interrupted"]
    ])
  })

  it("the planted DATABASE_URL password is in no output: not in rows that hold it, not in errors, not in the audit", async () => {
    await admin((sql) => sql.unsafe(`UPDATE orders SET note = 'url ${appDatabaseUrl()} pw ${PLANTED_DB_PASSWORD}' WHERE id = 1`))
    const outcomes = [
      await run(fakes, noApprovals, "heroku_pg_psql", { app: "alpha", sql: "SELECT note FROM orders WHERE id = 1" }),
      await run(fakes, noApprovals, "heroku_pg_psql", { app: "alpha", sql: `SELECT '${PLANTED_DB_PASSWORD}'::int` }),
      await run(fakes, noApprovals, "heroku_pg_ps", { app: "alpha", verbose: true })
    ]
    for (const outcome of outcomes) expect(everything(outcome)).not.toContain(PLANTED_DB_PASSWORD)
    expect(outcomes[0]!.execution.value).toMatchObject({ rows: [{ note: expect.stringContaining("[REDACTED]") }] })
    // The audit shows the SQL the model sent, scrubbed the same way.
    expect(JSON.stringify(outcomes[1]!.audit)).toContain("[REDACTED]")
    // A wrong password on the config var: the connection error names no password either.
    const appId = fakes.alpha["id"] as string
    const saved = fakes.platform.state.configVars.get(appId)!["DATABASE_URL"]!
    fakes.platform.state.configVars.get(appId)!["DATABASE_URL"] = saved.replace(PLANTED_DB_PASSWORD, `${PLANTED_DB_PASSWORD}-wrong`)
    try {
      const denied = await run(fakes, noApprovals, "heroku_pg_psql", { app: "alpha", sql: "SELECT 1" })
      expect(denied.execution.value).toMatchObject({ error: { error: "PostgresAuthenticationError" } })
      expect(everything(denied)).not.toContain(PLANTED_DB_PASSWORD)
    } finally {
      fakes.platform.state.configVars.get(appId)!["DATABASE_URL"] = saved
    }
  })

  it("credential: psql connects as the named credential (its attachment's URL); an unknown one connects nowhere; its password is in no output", async () => {
    const who = await run(fakes, noApprovals, "heroku_pg_psql", { app: "alpha", sql: "SELECT current_user AS u", credential: "analyst" })
    expect(who.execution.value).toMatchObject({ rows: [{ u: "herokupg_analyst" }] })
    const denied = await run(fakes, full, "heroku_pg_psql_write", { app: "alpha", sql: "DELETE FROM orders WHERE id = 3", credential: "analyst" }, { approvedBy: "dana" })
    expect(denied.execution.value).toMatchObject({ error: { message: expect.stringMatching(/permission denied.*42501/) } })
    // Named by its add-on's name (or its default attachment), the database is reached as its default credential.
    const byName = await run(fakes, noApprovals, "heroku_pg_psql", { app: "alpha", sql: "SELECT current_user AS u", database: "postgresql-alpha-1234" })
    expect(byName.execution.value).toMatchObject({ addon: { attachment: "DATABASE" }, rows: [{ u: "herokupg_app" }] })
    const unknown = await run(fakes, noApprovals, "heroku_pg_psql", { app: "alpha", sql: "SELECT 1", credential: "nobody" })
    expect(unknown.execution.value).toMatchObject({ error: { error: "CredentialNotFound" } })
    for (const outcome of [who, denied, unknown]) expect(everything(outcome)).not.toContain(PLANTED_ANALYST_PASSWORD)
    await admin((sql) => Effect.map(sql`SELECT count(*)::int AS n FROM orders WHERE id = 3`, (rows) => expect(rows).toEqual([{ n: 1 }])))
  })

  it("heroku_pg_psql_write: refused without an approval (nothing written); approved, committed", async () => {
    const refused = await run(fakes, full, "heroku_pg_psql_write", { app: "alpha", sql: "DELETE FROM orders WHERE id > 490" })
    expect(refused.execution).toMatchObject({ isError: true })
    const approved = await run(fakes, full, "heroku_pg_psql_write", { app: "alpha", sql: "DELETE FROM orders WHERE id > 490 RETURNING id" }, { approvedBy: "dana" })
    expect(approved.execution.value).toMatchObject({ command: "DELETE", rowCount: 10, truncated: false })
    expect(approved.audit.map((e) => [e.kind, e.decision, e.by])).toEqual([
      ["intent", "approved", "dana"],
      ["outcome", "approved", "dana"]
    ])
    await admin((sql) => Effect.map(sql`SELECT count(*)::int AS n FROM orders`, (rows) => expect(rows).toEqual([{ n: 490 }])))
  })

  it("heroku_pg_ps shows a running query, heroku_pg_locks its lock; heroku_pg_kill (approved) cancels it", async () => {
    // Another session holds a row lock in an open transaction and then sleeps.
    const blocker = Effect.runFork(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql.withTransaction(Effect.andThen(sql`UPDATE orders SET note = 'locked' WHERE id = 2`, sql`SELECT pg_sleep(30)`))
      }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(appDatabaseUrl()), maxConnections: 1 })), Effect.scoped, Effect.result)
    )
    let pid: number | undefined
    for (let i = 0; i < 50 && pid === undefined; i++) {
      await new Promise((r) => setTimeout(r, 100))
      const ps = await run(fakes, read, "heroku_pg_ps", { app: "alpha" })
      const row = (ps.execution.value as { rows: Array<{ pid: number; query: string; waiting: boolean }> }).rows.find((r) => r.query.includes("pg_sleep(30)"))
      pid = row?.pid
    }
    expect(pid).toBeTypeOf("number")
    // A second session waits for the blocker's row lock: pg_ps says it is waiting (PostgreSQL 10+ has no
    // `waiting` column; the CLI's query derives it from `wait_event`).
    const waiter = Effect.runFork(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql.withTransaction(sql`SELECT note AS waited FROM orders WHERE id = 2 FOR UPDATE`)
      }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(appDatabaseUrl()), maxConnections: 1 })), Effect.scoped, Effect.result)
    )
    let waiting: { pid: number; waiting: boolean } | undefined
    for (let i = 0; i < 50 && waiting === undefined; i++) {
      await new Promise((r) => setTimeout(r, 100))
      const ps = await run(fakes, read, "heroku_pg_ps", { app: "alpha" })
      waiting = (ps.execution.value as { rows: Array<{ pid: number; query: string; waiting: boolean }> }).rows.find((r) => r.query.includes("AS waited"))
    }
    expect(waiting).toMatchObject({ waiting: true })
    const locks = await run(fakes, read, "heroku_pg_locks", { app: "alpha", truncate: true })
    expect((locks.execution.value as { rows: Array<{ pid: number; query_snippet: string }> }).rows).toContainEqual(expect.objectContaining({ pid, granted: true }))
    const unapproved = await run(fakes, full, "heroku_pg_kill", { app: "alpha", pid })
    expect(unapproved.execution.isError).toBe(true)
    expect(unapproved.audit[0]).toMatchObject({ kind: "refusal", by: "handler" })
    const killed = await run(fakes, full, "heroku_pg_kill", { app: "alpha", pid }, { approvedBy: "dana" })
    expect(killed.execution.value).toMatchObject({ pid, signalled: true, force: false })
    const ended = await Effect.runPromise(Fiber.join(blocker))
    // The lock is released with the cancelled transaction: the waiter gets it and ends.
    expect(Result.isSuccess(await Effect.runPromise(Fiber.join(waiter)))).toBe(true)
    expect(Result.isFailure(ended)).toBe(true)
    // 57014: query_canceled (the blocker's session has no statement timeout: this is pg_cancel_backend).
    expect(JSON.stringify(Result.isFailure(ended) ? ended.failure : "")).toContain('"code":"57014"')
    // The cancelled transaction rolled back.
    await admin((sql) => Effect.map(sql`SELECT note FROM orders WHERE id = 2`, (rows) => expect(rows).toEqual([{ note: "order 2" }])))
  })

  it("through the loop: a Read agent's pg_info runs, its psql waits for the approver, its pg_kill is not offered; every call audited", async () => {
    const model = ScriptedModel.make([
      ScriptedModel.toolCall("heroku_pg_info", { app: "alpha" }),
      ScriptedModel.toolCall("heroku_pg_psql", { app: "alpha", sql: "SELECT count(*)::int AS n FROM orders" }),
      ScriptedModel.toolCall("heroku_pg_kill", { app: "alpha", pid: 1 }),
      ScriptedModel.text("done")
    ])
    const layer = AgentBackend.layerLocal(Agent.make({ name: "dba", toolkit: Postgres.toolkit(read) })).pipe(
      Layer.provide(harness(fakes, read)),
      Layer.provideMerge(Layer.mergeAll(model.layer, Approval.layerAutoApprove, RunStore.layerMemory, AuditLog.layerMemory))
    )
    const audit = await Effect.runPromise(
      Effect.gen(function* () {
        yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "how many orders?", runId: "run-pg-loop" }))
        return yield* Effect.flatMap(AuditLog.AuditLog, (log) => log.entries)
      }).pipe(Effect.provide(layer))
    )
    expect(audit.map((e) => [e.kind, e.runId, e.tool, e.decision, e.outcome])).toEqual([
      ["intent", "run-pg-loop", "heroku_pg_info", "allowed", "pending"],
      ["outcome", "run-pg-loop", "heroku_pg_info", "allowed", "success"],
      ["intent", "run-pg-loop", "heroku_pg_psql", "approved", "pending"],
      ["outcome", "run-pg-loop", "heroku_pg_psql", "approved", "success"],
      ["refusal", "run-pg-loop", "heroku_pg_kill", "refused", "not_run"]
    ])
    // The second model request carries the psql result (the loop handed it back).
    const handedBack = JSON.stringify(model.requests.at(-1)?.messages.at(-3))
    expect(handedBack).toContain('\\"columns\\":[\\"n\\"]')
  })

  it("heroku_pg_outliers: without pg_stat_statements, a typed error saying so; with it but not preloaded, the server's error (the query itself parses)", async () => {
    const missing = await run(fakes, read, "heroku_pg_outliers", { app: "alpha", num: 5 })
    expect(missing.execution.value).toMatchObject({ error: { error: "PgStatStatementsMissing" } })
    await admin((sql) => sql.unsafe("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
    const unloaded = await run(fakes, read, "heroku_pg_outliers", { app: "alpha", truncate: true })
    expect(unloaded.execution.value).toMatchObject({ error: { message: expect.stringMatching(/shared_preload_libraries|pg_stat_statements/) } })
    expect(JSON.stringify(unloaded.execution.value)).not.toMatch(/column .* does not exist/)
  })

  it("heroku_pg_outliers_reset: refused without an approval; approved, an Essential database resets through Heroku's _heroku function, a Standard one through the extension's", async () => {
    await admin((sql) =>
      Effect.gen(function* () {
        yield* sql.unsafe("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        yield* sql.unsafe("CREATE SCHEMA IF NOT EXISTS _heroku")
        yield* sql.unsafe("CREATE TABLE IF NOT EXISTS _heroku.resets (at timestamptz DEFAULT now())")
        yield* sql.unsafe("TRUNCATE _heroku.resets")
        yield* sql.unsafe("CREATE OR REPLACE FUNCTION _heroku.pg_stat_statements_reset() RETURNS void LANGUAGE sql SECURITY DEFINER AS 'INSERT INTO _heroku.resets DEFAULT VALUES'")
        yield* sql.unsafe("GRANT USAGE ON SCHEMA _heroku TO herokupg_app")
      })
    )
    const count = async () => {
      let n = -1
      await admin((sql) => Effect.map(sql`SELECT count(*)::int AS n FROM _heroku.resets`, (rows) => (n = (rows[0] as { n: number }).n)))
      return n
    }
    const refused = await run(fakes, full, "heroku_pg_outliers_reset", { app: "alpha" })
    expect(refused.execution.isError).toBe(true)
    expect(await count()).toBe(0)
    const essential = await run(fakes, full, "heroku_pg_outliers_reset", { app: "alpha" }, { approvedBy: "dana" })
    expect(essential.execution.value).toMatchObject({ reset: true, addon: { name: "postgresql-alpha-1234" } })
    expect(await count()).toBe(1)
    // prod's add-on is on a Standard plan: the extension's own reset, which this server refuses (not preloaded).
    const standard = await run(fakes, full, "heroku_pg_outliers_reset", { app: "prod" }, { approvedBy: "dana" })
    expect(standard.execution.value).toMatchObject({ error: { message: expect.stringMatching(/pg_stat_statements/) } })
    expect(await count()).toBe(1)
  })
})
