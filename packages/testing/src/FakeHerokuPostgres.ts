/**
 * A fake Heroku Postgres data API (`api.data.heroku.com`) on loopback, over a `FakeHerokuPlatform`: it knows
 * the `heroku-postgresql` add-ons of the platform fake's apps and answers what heroku/cli v11 calls:
 *
 * - `GET /client/v11/databases/{addon id}` (`pg:info`): the database, with its `database_password` and
 *   `resource_url` taken from the app's config var (as Heroku answers: they are secrets the tools must drop);
 * - `GET /postgres/v0/databases/{addon id}/credentials` (`pg:credentials`): HTTP Basic `:<token>` only,
 *   each credential with its users and their passwords;
 * - `GET /client/v11/apps/{app}/transfers` (`pg:backups`): backups with signed `from_url`/`to_url`;
 * - `GET /data/maintenances/v1/{addon id}` (`data:maintenances:info`);
 * - `POST /client/v11/databases/{addon id}/upgrade/run` with `{ version? }` (`pg:upgrade:run`): Essential
 *   plans and followers only; any other body field is a 422.
 *
 * Strict as the real API is: a token the platform fake does not know is a 401, an add-on that is not
 * `heroku-postgresql` (or not there) a 404, Accept must be Heroku's. Faults (429 with `Retry-After`, HTML
 * 5xx, dropped connections, delays) are injected like the platform fake's.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { type AddressInfo, connect } from "node:net"
import { Effect, type Scope } from "effect"
import type { Fault, FakeHeroku } from "./FakeHerokuPlatform.js"
import { takeFault } from "./internal/fakeHeroku/http.js"

type Json = Record<string, any>

export interface Options {
  /** The platform fake whose apps, add-ons, config vars and tokens this data API serves. */
  readonly platform: FakeHeroku
  /** Tokens accepted. Default: `["test-token"]`, the platform fake's default. */
  readonly tokens?: ReadonlyArray<string>
}

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly authorization: "bearer" | "basic" | "none"
  readonly body: unknown
  readonly status: number
}

/** What the data API says about one database beyond what the platform fake knows (set with `database`). */
export interface DatabaseState {
  postgresVersion: string
  /** More credentials than `default` (their users and passwords). */
  credentials: Array<{ name: string; state: string; users: Array<{ user: string; password: string; state: string; connections: number }> }>
  transfers: Array<Json>
  maintenance: Json
  upgrading?: string
}

export interface FakeHerokuPostgres {
  readonly url: string
  readonly requests: ReadonlyArray<RecordedRequest>
  readonly inject: (fault: Fault) => void
  /** The data API's state of an add-on (by id), created on first use. */
  readonly database: (addonId: string) => DatabaseState
  readonly close: () => Promise<void>
}

class HttpError {
  constructor(
    readonly status: number,
    readonly id: string,
    readonly message: string
  ) {}
}

const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  res.writeHead(status, { "Content-Type": "application/json", "Request-Id": randomUUID(), ...headers }).end(JSON.stringify(body))

export const start = async (options: Options): Promise<FakeHerokuPostgres> => {
  const { platform } = options
  const tokens = new Set(options.tokens ?? ["test-token"])
  const faults: Array<Fault> = []
  const requests: Array<RecordedRequest> = []
  const databases = new Map<string, DatabaseState>()

  const postgresAddon = (id: string): { addon: Json; app: Json } => {
    for (const [appId, addons] of platform.state.addons) {
      const addon = addons.find((a) => a["id"] === id)
      if (addon !== undefined && addon["addon_service"]?.["name"] === "heroku-postgresql") return { addon, app: platform.state.apps.get(appId)! }
    }
    throw new HttpError(404, "not_found", "Couldn't find that database.")
  }
  const database = (id: string): DatabaseState => {
    let found = databases.get(id)
    if (found === undefined) {
      found = {
        postgresVersion: "16.4",
        credentials: [],
        transfers: [],
        maintenance: { status: "none", reason: null, method: null, window: "Thursdays 22:00 to Fridays 02:00 UTC", scheduled_for: null, required_by: null }
      }
      databases.set(id, found)
    }
    return found
  }
  /** The add-on's URL as the app's config var holds it (what Heroku's `resource_url` is). */
  const urlOf = (addon: Json, app: Json): string => String(platform.state.configVars.get(app["id"])?.[addon["config_vars"]?.[0] ?? "DATABASE_URL"] ?? "")
  const userOf = (url: string) => {
    try {
      const parsed = new URL(url)
      return { user: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password), database: parsed.pathname.slice(1) }
    } catch {
      return { user: "", password: "", database: "" }
    }
  }

  const info = (id: string) => {
    const { addon, app } = postgresAddon(id)
    const state = database(id)
    const url = urlOf(addon, app)
    const { user, password, database: name } = userOf(url)
    return {
      addon_id: id,
      name: addon["name"],
      plan: addon["plan"]["name"].split(":")[1] ?? addon["plan"]["name"],
      postgres_version: state.postgresVersion,
      database_name: name,
      database_user: user,
      database_password: password,
      resource_url: url,
      num_bytes: 8_830_000,
      num_tables: 3,
      num_connections: 2,
      following: null,
      "waiting?": false,
      created_at: addon["created_at"],
      info: [
        { name: "Plan", values: [addon["plan"]["name"]] },
        { name: "Status", values: ["Available"] },
        { name: "PG Version", values: [state.postgresVersion] },
        { name: "Data Size", values: ["8.4 MB"] },
        { name: "Tables", values: ["3"] },
        { name: "Connections", values: ["2/20"] }
      ]
    }
  }

  const routes: ReadonlyArray<{ method: string; pattern: RegExp; basic?: boolean; handle: (m: ReadonlyArray<string>, body: Json) => { status?: number; body: unknown } }> = [
    { method: "GET", pattern: /^\/client\/v11\/databases\/([^/]+)$/, handle: ([id]) => ({ body: info(id!) }) },
    {
      method: "GET",
      pattern: /^\/postgres\/v0\/databases\/([^/]+)\/credentials$/,
      basic: true,
      handle: ([id]) => {
        const { addon, app } = postgresAddon(id!)
        const { user, password, database: name } = userOf(urlOf(addon, app))
        const extra = database(id!).credentials
        return {
          body: [
            { uuid: randomUUID(), name: "default", state: "active", database: name, host: "ec2.compute.amazonaws.com", port: 5432, credentials: [{ user, password, state: "active", connections: 2 }] },
            ...extra.map((c) => ({ uuid: randomUUID(), name: c.name, state: c.state, database: name, host: "ec2.compute.amazonaws.com", port: 5432, credentials: c.users }))
          ]
        }
      }
    },
    {
      method: "GET",
      pattern: /^\/client\/v11\/apps\/([^/]+)\/transfers$/,
      handle: ([a]) => {
        const app = [...platform.state.apps.values()].find((x) => x["id"] === a || x["name"] === a)
        if (app === undefined) throw new HttpError(404, "not_found", "Couldn't find that app.")
        return { body: (platform.state.addons.get(app["id"]) ?? []).flatMap((addon) => (databases.get(addon["id"])?.transfers ?? [])) }
      }
    },
    {
      method: "GET",
      pattern: /^\/data\/maintenances\/v1\/([^/]+)$/,
      handle: ([id]) => {
        const { addon, app } = postgresAddon(id!)
        return { body: { ...database(id!).maintenance, addon: { name: addon["name"], plan: addon["plan"]["name"], kind: "heroku-postgresql", attachments: addon["config_vars"], window: null }, app: { name: app["name"] } } }
      }
    },
    {
      method: "POST",
      pattern: /^\/client\/v11\/databases\/([^/]+)\/upgrade\/run$/,
      handle: ([id], body) => {
        const { addon } = postgresAddon(id!)
        const unknown = Object.keys(body).filter((k) => k !== "version")
        if (unknown.length > 0) throw new HttpError(422, "invalid_params", `Unknown parameters: ${unknown.join(", ")}.`)
        if (body["version"] !== undefined && (typeof body["version"] !== "string" || !/^\d{1,3}$/.test(body["version"]))) {
          throw new HttpError(422, "invalid_params", "version must be a major version such as 17.")
        }
        if (!String(addon["plan"]["name"]).includes("essential")) {
          throw new HttpError(422, "invalid_params", "Run pg:upgrade:prepare first: Standard-tier and higher leader databases are upgraded in a maintenance window.")
        }
        const target = (body["version"] as string | undefined) ?? "17"
        database(id!).upgrading = target
        database(id!).postgresVersion = `${target}.0`
        return { body: { message: `Started the upgrade of ${addon["name"]} to Postgres ${target}. Use pg:upgrade:wait to track its status.` } }
      }
    }
  ]

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Array<Buffer> = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const raw = Buffer.concat(chunks).toString("utf8")
    const method = req.method ?? "GET"
    const path = new URL(req.url ?? "/", "http://localhost").pathname
    const authorization = req.headers["authorization"] ?? ""
    const scheme = /^Bearer /i.test(authorization) ? "bearer" : /^Basic /i.test(authorization) ? "basic" : "none"
    const record = (status: number) => requests.push({ method, path, authorization: scheme, body: raw.length > 0 ? safeJson(raw) : undefined, status })
    const fail = (error: HttpError) => {
      record(error.status)
      send(res, error.status, { id: error.id, message: error.message })
    }

    const fault = await takeFault(faults, method, path)
    if (fault !== undefined) {
      if (fault.drop === true) {
        record(0)
        req.socket.destroy()
        return
      }
      if (fault.status !== undefined) {
        record(fault.status)
        if (fault.raw !== undefined) res.writeHead(fault.status, { "Content-Type": "text/html", ...fault.headers }).end(fault.raw)
        else send(res, fault.status, fault.body ?? { id: fault.status === 429 ? "rate_limit" : "error", message: "Injected fault" }, fault.headers)
        return
      }
    }
    if (!/^application\/vnd\.heroku\+json;\s*version=3$/.test(req.headers["accept"] ?? "")) {
      return fail(new HttpError(406, "not_acceptable", "Please set Accept: application/vnd.heroku+json; version=3 header and try again."))
    }
    for (const route of routes) {
      if (route.method !== method) continue
      const match = route.pattern.exec(path)
      if (match === null) continue
      // heroku/cli sends Basic `:<token>` to /postgres/v0 and Bearer everywhere else: the fake takes only that.
      const token =
        route.basic === true
          ? scheme === "basic"
            ? Buffer.from(authorization.slice(6).trim(), "base64").toString("utf8").replace(/^[^:]*:/, "")
            : undefined
          : scheme === "bearer"
            ? authorization.slice(7).trim()
            : undefined
      if (token === undefined || !tokens.has(token)) return fail(new HttpError(401, "unauthorized", "Invalid credentials provided."))
      try {
        const body = raw.length === 0 ? {} : (JSON.parse(raw) as Json)
        if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, "bad_request", "The body must be a JSON object.")
        const result = route.handle(match.slice(1), body)
        record(result.status ?? 200)
        return send(res, result.status ?? 200, result.body)
      } catch (error) {
        return fail(error instanceof HttpError ? error : new HttpError(400, "bad_request", (error as Error).message))
      }
    }
    return fail(new HttpError(404, "not_found", "Not found."))
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      if (!res.headersSent) send(res, 500, { id: "internal_error", message: String(error) })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    inject: (fault) => void faults.push({ ...fault }),
    database,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * Whether a server accepts TCP connections at a `postgres://` URL's host and port (within 5 s): tests that
 * need a real database (the SQL tools') skip, saying so, when none does.
 */
export const reachable = (url: string): Promise<boolean> =>
  new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(url)
    const socket = connect(Number(port || 5432), hostname)
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(5_000, () => done(false))
    socket.on("connect", () => done(true)).on("error", () => done(false))
  })

/** `start` as a scoped Effect: the server closes with the scope. */
export const make = (options: Options): Effect.Effect<FakeHerokuPostgres, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (fake) => Effect.promise(() => fake.close())
  )
