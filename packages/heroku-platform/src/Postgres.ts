/**
 * Heroku Postgres as agent tools (`@agentloop/heroku-platform/Postgres`): what the ten `pg_*` tools of
 * Heroku's own MCP server do, under the same grants, approvals, audit and redaction as the Platform tools
 * (`HerokuTools`), in the grant group `postgres`.
 *
 * - `heroku_pg_info`, `heroku_pg_credentials`, `heroku_pg_backups`, `heroku_pg_maintenance`,
 *   `heroku_pg_upgrade` call the Heroku Postgres data API (`api.data.heroku.com`) through `DataClient`: a
 *   `HerokuClient` with its own base URL (auth from the same `Redacted` key, retries, 429 `Retry-After`, rate
 *   limit, typed errors).
 * - `heroku_pg_psql` (read only), `heroku_pg_psql_write`, `heroku_pg_ps`, `heroku_pg_locks`,
 *   `heroku_pg_outliers`, `heroku_pg_kill` run SQL over a direct connection to the add-on's database, whose
 *   URL the handler reads from the app's `<ATTACHMENT>_URL` config var: never shown to the model, never in an
 *   audit entry or an error (every config value of the app is a known secret from then on).
 *
 * This module is its own entry point: only it loads `@effect/sql-pg` (an optional peer dependency);
 * `@agentloop/heroku-platform`'s main entry never does.
 *
 * @since 0.1.0
 */
import type { Tool, Toolkit } from "@agentloop/core"
import { Config, Context, Duration, Effect, Layer, Redacted, Stream } from "effect"
import type { HttpClient } from "effect/http"
import type { SqlError } from "effect/sql/SqlError"
import type { AuditLog } from "./AuditLog.js"
import * as Grant from "./Grant.js"
import * as HerokuClient from "./HerokuClient.js"
import * as HerokuTools from "./HerokuTools.js"
import * as Ops from "./internal/postgresOperations.js"
import * as Sql from "./internal/postgresSql.js"
import type { Operation } from "./Operations.js"
import * as Redaction from "./Redaction.js"

/** Where Heroku's CLI sends data API calls (`HEROKU_DATA_HOST` overrides it there). */
export const DEFAULT_DATA_URL = "https://api.data.heroku.com"

/** The Heroku Postgres data API: a `HerokuClient` pointed at its host. */
export class DataClient extends Context.Service<DataClient, HerokuClient.Service>()("@agentloop/heroku-platform/Postgres/DataClient") {}

/** A data API client; `baseUrl` defaults to `DEFAULT_DATA_URL`. Same options (token, rate limit, retries) as `HerokuClient`. */
export const layerDataClient = (options: HerokuClient.Options): Layer.Layer<DataClient, never, HttpClient.HttpClient> =>
  Layer.effect(DataClient, HerokuClient.make({ ...options, baseUrl: options.baseUrl ?? DEFAULT_DATA_URL }))

/** Reads `HEROKU_API_KEY` (required) and `HEROKU_DATA_URL` (optional, e.g. `https://api.data.heroku.com`). */
export const layerDataClientConfig: Layer.Layer<DataClient, Config.ConfigError, HttpClient.HttpClient> = Layer.unwrap(
  Effect.gen(function* () {
    const token = yield* Config.Redacted("HEROKU_API_KEY")
    const baseUrl = yield* Config.String("HEROKU_DATA_URL").pipe(Config.withDefault(DEFAULT_DATA_URL))
    return layerDataClient({ token, baseUrl })
  })
)

/** How the SQL tools connect and what they hand back. */
export interface Options {
  /**
   * TLS. Default `{ rejectUnauthorized: false }`: encrypted, as Heroku requires and as its docs configure
   * Node clients (its certificates are not signed by a public CA); pass `{ ca }` to verify, `false` only for a
   * local server (tests).
   */
  readonly ssl?: Sql.SqlOptions["ssl"]
  /** Each statement's `statement_timeout` (also its `lock_timeout`). Default 5 seconds. */
  readonly statementTimeout?: Duration.Input
  /** Default 10 seconds. */
  readonly connectTimeout?: Duration.Input
  /** Rows handed back at most (a tool's `maxRows` may ask fewer). Default 100. */
  readonly maxRows?: number
  /** Bytes of rows (as JSON) handed back at most. Default 64 KB. */
  readonly maxBytes?: number
}

const sqlOptions = (options: Options): Sql.SqlOptions => ({
  ssl: options.ssl ?? { rejectUnauthorized: false },
  statementTimeout: Duration.fromInputUnsafe(options.statementTimeout ?? "5 seconds"),
  connectTimeout: Duration.fromInputUnsafe(options.connectTimeout ?? "10 seconds"),
  maxRows: options.maxRows ?? 100,
  maxBytes: options.maxBytes ?? 64 * 1024
})

/** The Postgres tools, as operations (grant group `postgres`). */
export const operations: ReadonlyArray<Operation> = Ops.postgresOperations

export const byTool: ReadonlyMap<string, Operation> = new Map(operations.map((op) => [op.tool, op]))

/** How each tool is served: `data` (one data API request) or `sql` (a direct connection). */
export const via = (tool: string): "data" | "sql" | undefined => Ops.postgresOperations.find((op) => op.tool === tool)?.via.kind

/** The Postgres operations a grant allows (its `postgres` access: Read gives the reads, Full the writes too). */
export const allowedOperations = (grant: Grant.Grant): ReadonlyArray<Operation> => HerokuTools.allowedOf(operations, grant)

/** The Postgres tools a grant allows, and only those (one toolkit per grant, like `HerokuTools.toolkit`). */
export const toolkit: (grant: Grant.Grant) => Toolkit.Toolkit<Record<string, Tool.Any>> = HerokuTools.toolkitsOf(operations)

/** MCP safety hints, as `HerokuTools.annotations` gives them for the Platform tools. */
export const annotations = (tool: string) => {
  const operation = byTool.get(tool)
  return operation === undefined ? undefined : HerokuTools.annotationsOf(operation)
}

/**
 * Handlers for the grant's Postgres tools: the same checks as `HerokuTools.layer` (grant, arguments, app,
 * approval, audit intent before and outcome after, redaction), then the data API or the database.
 */
export const layer = (grant: Grant.Grant, options: Options = {}): Layer.Layer<Tool.Handler<string>, never, HerokuClient.HerokuClient | AuditLog | DataClient> =>
  toolkit(grant).toLayer(
    Effect.gen(function* () {
      const platform = yield* HerokuClient.HerokuClient
      const data = yield* DataClient
      return yield* HerokuTools.handlersFor(grant, allowedOperations(grant), performer(platform, data, sqlOptions(options)))
    })
  )

// ---------------------------------------------------------------------------------------------------------
// The calls.

type Failure = HerokuTools.ToolFailure
type Input = Parameters<HerokuTools.Performer>[0]

interface Database {
  readonly id: string
  readonly name: string
  readonly attachment: string
  /** The add-on's plan (`heroku-postgresql:essential-0`). */
  readonly plan: string
}

/** The add-on as every result names it. */
const shown = (database: Database) => ({ id: database.id, name: database.name, attachment: database.attachment })

const fail = (error: string, message: string): Effect.Effect<never, Failure> => Effect.fail({ error, message })
// Unscrubbed here: the handler scrubs every failure with the secrets it knows by then.
const fromHeroku = (error: Parameters<typeof HerokuTools.fromHerokuError>[0]) => HerokuTools.fromHerokuError(error, Redaction.none)
const record = (value: unknown): Record<string, unknown> => (typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {})

/** Fields of a data API answer that carry credentials (a password, a URL with one in it): dropped by name. */
const SECRET_FIELD = /password|secret|token|_url$|^url$|uri$/i
const withoutSecrets = (body: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(body).filter(([key]) => !SECRET_FIELD.test(key)))

const performer =
  (platform: HerokuClient.Service, data: HerokuClient.Service, options: Sql.SqlOptions): HerokuTools.Performer =>
  (input) => {
    const op = Ops.postgresOperations.find((o) => o.tool === input.operation.tool)
    if (op === undefined) return undefined
    // Every Postgres tool's Schema requires the app; never fall through to a Platform API request without one.
    if (input.app === undefined) return fail("InvalidArguments", `${op.tool} needs an app.`)
    const app = input.app
    return op.via.kind === "data" ? dataCall(platform, data, op, input, app) : sqlCall(platform, options, op, input, app)
  }

/**
 * The app's attachments, those of the default credential first: an add-on named by its name (or listed by
 * `pg:info`) is reached through its default credential, not through an attachment of another credential
 * (`namespace: "credential:<name>"`).
 */
const attachmentsOf = (platform: HerokuClient.Service, app: string) =>
  Stream.runCollect(platform.list(`/apps/${encodeURIComponent(app)}/addon-attachments`, { field: "id" })).pipe(
    Effect.map((items) => {
      const attachments = items.map(record)
      const isDefault = (a: Record<string, unknown>) => a["namespace"] === null || a["namespace"] === undefined
      return [...attachments.filter(isDefault), ...attachments.filter((a) => !isDefault(a))]
    }),
    Effect.mapError(fromHeroku)
  )

/** The add-on behind an attachment, when it is a `heroku-postgresql` one (else its service's name). */
const postgresAddon = (platform: HerokuClient.Service, attachment: Record<string, unknown>): Effect.Effect<Database | string, Failure> => {
  const ref = record(attachment["addon"])
  return Effect.map(
    platform.request({ method: "GET", path: `/addons/${encodeURIComponent(String(ref["id"]))}`, template: "/addons/{addon}" }).pipe(Effect.mapError(fromHeroku)),
    ({ body }) => {
      const addon = record(body)
      const service = record(addon["addon_service"])["name"]
      if (service !== "heroku-postgresql") return typeof service === "string" ? service : "non-Postgres"
      return {
        id: String(ref["id"]),
        name: typeof addon["name"] === "string" ? addon["name"] : String(ref["name"]),
        attachment: String(attachment["name"]),
        plan: String(record(addon["plan"])["name"] ?? "")
      }
    }
  )
}

/**
 * The database `database` names on the app: an attachment (`DATABASE`, the default), its config var
 * (`DATABASE_URL`) or its add-on's name; it must be a `heroku-postgresql` add-on. (heroku/cli resolves it
 * with `POST /actions/addon-attachments/resolve`; the attachment list and `GET /addons/{id}` say the same.)
 */
const resolveDatabase = (platform: HerokuClient.Service, app: string, database: string | undefined): Effect.Effect<Database, Failure> =>
  Effect.gen(function* () {
    const given = database ?? "DATABASE"
    const wanted = given.toUpperCase().replace(/_URL$/, "")
    const attachments = yield* attachmentsOf(platform, app)
    const found = attachments.find((a) => a["name"] === wanted || record(a["addon"])["name"] === given)
    if (found === undefined || typeof record(found["addon"])["id"] !== "string") {
      const names = attachments.map((a) => a["name"]).filter((n): n is string => typeof n === "string").sort()
      return yield* fail("DatabaseNotFound", `The app has no database attachment "${given}" (its attachments: ${names.join(", ") || "none"}).`)
    }
    const addon = yield* postgresAddon(platform, found)
    return typeof addon === "string" ? yield* fail("NotPostgres", `"${given}" is a ${addon} add-on, not heroku-postgresql.`) : addon
  })

/** Every `heroku-postgresql` database attached to the app, once each (what `pg:info` without a database shows). */
const allDatabases = (platform: HerokuClient.Service, app: string): Effect.Effect<ReadonlyArray<Database>, Failure> =>
  Effect.gen(function* () {
    const attachments = yield* attachmentsOf(platform, app)
    const seen = new Set<string>()
    const databases: Array<Database> = []
    for (const attachment of attachments) {
      const id = record(attachment["addon"])["id"]
      if (typeof id !== "string" || seen.has(id)) continue
      seen.add(id)
      const addon = yield* postgresAddon(platform, attachment)
      if (typeof addon !== "string") databases.push(addon)
    }
    return databases.length > 0 ? databases : yield* fail("DatabaseNotFound", "The app has no heroku-postgresql databases.")
  })

const dataCall = (platform: HerokuClient.Service, data: HerokuClient.Service, op: (typeof Ops.postgresOperations)[number], input: Input, app: string) =>
  Effect.gen(function* () {
    const { params, scope } = input
    const send = (database: Database | undefined) =>
      data
        .request({
          method: op.method,
          path: op.template
            .replace("{addon}", encodeURIComponent(database?.id ?? ""))
            // pg:backups names the app as the CLI does (by name); its id when the name is not known.
            .replace("{app}", encodeURIComponent(input.appName ?? app)),
          template: op.template,
          ...(op.tool === "heroku_pg_upgrade" ? { body: params["version"] === undefined ? {} : { version: params["version"] } } : {}),
          ...(op.via.kind === "data" && op.via.basicAuth === true ? { basicAuth: true } : {})
        })
        .pipe(
          Effect.mapError(fromHeroku),
          Effect.map((response) => ({ value: present(op.tool, response.body, database === undefined ? undefined : shown(database), scope.learn), requestId: response.requestId }))
        )
    if (!op.template.includes("{addon}")) return yield* send(undefined)
    // pg:info without a database shows every database of the app, as the CLI does.
    if (op.tool === "heroku_pg_info") {
      const databases = params["database"] === undefined ? yield* allDatabases(platform, app) : [yield* resolveDatabase(platform, app, params["database"])]
      const answers = yield* Effect.forEach(databases, send)
      return { value: { databases: answers.map((a) => a.value) }, requestId: answers.at(-1)?.requestId }
    }
    return yield* send(yield* resolveDatabase(platform, app, params["database"]))
  })

/** Shapes a data API answer for the model: credentials learnt as secrets and dropped. */
const present = (tool: string, body: unknown, addon: ReturnType<typeof shown> | undefined, learn: (values: unknown) => void): unknown => {
  switch (tool) {
    case "heroku_pg_credentials": {
      const credentials = Array.isArray(body) ? body.map(record) : []
      learn(Object.fromEntries(credentials.flatMap((c, i) => (Array.isArray(c["credentials"]) ? c["credentials"] : []).map((u, j) => [`${i}.${j}`, record(u)["password"]]))))
      // Only what is known to be safe: names, states, users (heroku/cli's `NonAdvancedCredentialInfo`).
      return {
        addon,
        credentials: credentials.map((c) => ({
          name: String(c["name"]),
          ...(typeof c["state"] === "string" ? { state: c["state"] } : {}),
          ...(typeof c["database"] === "string" ? { database: c["database"] } : {}),
          users: (Array.isArray(c["credentials"]) ? c["credentials"] : []).map(record).map((u) => ({
            user: String(u["user"]),
            ...(typeof u["state"] === "string" ? { state: u["state"] } : {}),
            ...(typeof u["connections"] === "number" ? { connections: u["connections"] } : {})
          }))
        }))
      }
    }
    case "heroku_pg_backups": {
      const transfers = (Array.isArray(body) ? body.map(record) : []).sort((a, b) => String(b["created_at"] ?? "").localeCompare(String(a["created_at"] ?? "")))
      learn(Object.fromEntries(transfers.flatMap((t, i) => [[`from${i}`, t["from_url"]], [`to${i}`, t["to_url"]]])))
      return { transfers: transfers.slice(0, 50).map(withoutSecrets), total: transfers.length }
    }
    default: {
      const answer = record(body)
      learn(Object.fromEntries(Object.entries(answer).filter(([key]) => SECRET_FIELD.test(key))))
      // The add-on as the data API describes it (a maintenance's window, plan), named the way every result names it.
      return { ...withoutSecrets(answer), addon: { ...withoutSecrets(record(answer["addon"])), ...addon } }
    }
  }
}

const sqlCall = (platform: HerokuClient.Service, options: Sql.SqlOptions, op: (typeof Ops.postgresOperations)[number], input: Input, app: string) =>
  Effect.gen(function* () {
    const { params, scope } = input
    const database = yield* resolveDatabase(platform, app, params["database"])
    const attachment = params["credential"] === undefined || params["credential"] === "default" ? database.attachment : yield* credentialAttachment(platform, app, database, params["credential"])
    const config = yield* platform
      .request({ method: "GET", path: `/apps/${encodeURIComponent(app)}/config-vars`, template: "/apps/{app}/config-vars" })
      .pipe(Effect.mapError(fromHeroku))
    // From here on every config value of the app (the database URL, its password) is scrubbed from outputs.
    scope.learn(config.body)
    const url = record(config.body)[`${attachment}_URL`]
    if (typeof url !== "string") return yield* fail("DatabaseNotFound", `The app has no ${attachment}_URL config var.`)
    const secret = Redacted.make(url)
    const value = yield* sqlOf(op.tool, params, secret, options, database.plan)
    return { value: { addon: shown(database), ...value }, requestId: config.requestId }
  })

/**
 * The attachment through which the app uses `credential` on this database (heroku/cli `pg:psql --credential`:
 * the attachment whose namespace is `credential:<name>`); its `<NAME>_URL` holds that credential's URL.
 */
const credentialAttachment = (platform: HerokuClient.Service, app: string, database: Database, credential: string): Effect.Effect<string, Failure> =>
  Effect.flatMap(attachmentsOf(platform, app), (attachments) => {
    const found = attachments.find((a) => record(a["addon"])["id"] === database.id && a["namespace"] === `credential:${credential}`)
    return typeof found?.["name"] === "string"
      ? Effect.succeed(found["name"])
      : fail(
          "CredentialNotFound",
          `No attachment of ${database.name} on this app uses the credential "${credential}" (attach one: heroku addons:attach ${database.name} --credential ${credential}).`
        )
  })

/** Where pg_stat_statements lives and the server's major version (heroku/cli's `ensurePGStatStatement`). */
const statStatements = (query: Sql.Query): Effect.Effect<{ readonly major: number; readonly schema: string }, SqlError | Sql.SqlFailure> =>
  Effect.flatMap(query(Ops.outliersSetupQuery), (setup) => {
    const schema = setup.rows[0]?.["schema"]
    return typeof schema === "string"
      ? Effect.succeed({ major: Number(setup.rows[0]?.["major"]), schema })
      : Effect.fail<Sql.SqlFailure>({
          error: "PgStatStatementsMissing",
          message: "pg_stat_statements is not installed on this database (CREATE EXTENSION pg_stat_statements; it is on by default on Heroku)."
        })
  })

const sqlOf = (tool: string, params: Record<string, any>, url: Redacted.Redacted<string>, options: Sql.SqlOptions, plan: string): Effect.Effect<object, Failure> => {
  switch (tool) {
    case "heroku_pg_psql":
      return Sql.session(url, options, "read", (query) => query(params["sql"], [], params["maxRows"] ?? options.maxRows))
    case "heroku_pg_psql_write":
      return Sql.session(url, options, "write", (query) => query(params["sql"], [], params["maxRows"] ?? options.maxRows))
    case "heroku_pg_ps":
      return Sql.session(url, options, "read", (query) =>
        Effect.flatMap(query(Ops.psWaitingColumnQuery), (check) => query(Ops.psQuery(params["verbose"] === true, check.rows[0]?.["waiting"] === true)))
      )
    case "heroku_pg_locks":
      return Sql.session(url, options, "read", (query) => query(Ops.locksQuery(params["truncate"] === true)))
    case "heroku_pg_outliers":
      return Sql.session(url, options, "read", (query) =>
        Effect.flatMap(statStatements(query), ({ major, schema }) =>
          query(Ops.outliersQuery(major, schema, params["num"] ?? 10, params["truncate"] === true))
        )
      )
    case "heroku_pg_outliers_reset":
      return Effect.as(
        Sql.session(url, options, "write", (query) => Effect.flatMap(statStatements(query), ({ schema }) => query(Ops.outliersResetQuery(plan, schema)))),
        { reset: true }
      )
    case "heroku_pg_kill":
      return Effect.map(
        Sql.session(url, options, "write", (query) => query(Ops.killQuery(params["force"] === true), [params["pid"]])),
        (result) => ({ pid: params["pid"] as number, signalled: result.rows[0]?.["signalled"] === true, force: params["force"] === true })
      )
    default:
      return fail("UnknownTool", `${tool} is not a Postgres tool.`)
  }
}
