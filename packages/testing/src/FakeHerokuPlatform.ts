/**
 * An in-process fake of the Heroku Platform API v3 on loopback, for testing clients and agents over real
 * HTTP. It keeps state (apps, dynos, formation, config vars, releases, builds, add-ons, domains,
 * collaborators, pipelines, logs), checks the token's OAuth scopes on every route, enforces one request pool
 * per account (shared by all of the account's tokens), pages lists with `Range`, and answers errors with
 * Heroku's `{ id, message, url }` bodies. It accepts what Heroku accepts: `Authorization: Bearer <token>` or
 * HTTP Basic (the token as the password, as Heroku's own clients send it), `Accept: ...; version=3` or
 * `version=3.sdk`, and Range values that contain dots.
 *
 * Faults can be injected: an error status (e.g. 503, 429), slow responses, dropped connections.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Context, Effect, type Layer, type Scope } from "effect"
import { layerWith } from "./FakeHttp.js"
import { CEDAR, dynoSize, regionOf, STACK } from "./internal/fakeHeroku/catalog.js"
import { coverageRoutes } from "./internal/fakeHeroku/coverageRoutes.js"
import { type InferenceOptions, inferenceVars, type SourceFile, sourceRoutes, sourceStore } from "./internal/fakeHeroku/sourceRoutes.js"
import { ERROR_URL, HttpError, invalid, type Json, notFound, type Route, takeFault } from "./internal/fakeHeroku/http.js"

export type { InferenceOptions, SourceFile } from "./internal/fakeHeroku/sourceRoutes.js"

export type OAuthScope = "identity" | "read" | "write" | "read-protected" | "write-protected" | "global"

export interface Options {
  /** Tokens and their scopes. Default: `{ "test-token": ["global"] }`. */
  readonly tokens?: Readonly<Record<string, ReadonlyArray<OAuthScope>>>
  /** Which account each token belongs to (the pool is per account). Default: every token is the owner's. */
  readonly accounts?: Readonly<Record<string, string>>
  /** Calls on these paths need `Heroku-Two-Factor-Code: <code>`, else `403 two_factor`. */
  readonly twoFactor?: { readonly code: string; readonly paths: RegExp; readonly methods?: ReadonlyArray<string> }
  /** The request pool per account. Default: Heroku's 4,500 refilled at 75 per minute. */
  readonly rateLimit?: { readonly capacity: number; readonly refillPerMinute: number }
  /** The clock the pool refills by (ms). Default `Date.now`. */
  readonly now?: () => number
  readonly accountEmail?: string
  /** Where a `heroku-inference` add-on's `INFERENCE_URL` points, and its key (e.g. a `FakeHerokuInference`). */
  readonly inference?: InferenceOptions
}


export interface Fault {
  readonly status?: number
  readonly body?: Json | ReadonlyArray<Json>
  /** Answer with this text as it is (an HTML error page, a truncated body) instead of JSON. */
  readonly raw?: string
  readonly headers?: Readonly<Record<string, string>>
  /** Close the connection without answering. */
  readonly drop?: boolean
  /** Answer after this many ms. */
  readonly delayMs?: number
  /** Only for requests matching this method and path. */
  readonly method?: string
  readonly path?: RegExp
  /** How many requests it applies to (default 1). */
  times?: number
}

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly range: string | undefined
  readonly authorized: boolean
  readonly body: unknown
  readonly status: number
  /** The Accept header as sent. */
  readonly accept: string | undefined
  /** The `Heroku-Two-Factor-Code` header as sent. */
  readonly twoFactorCode: string | undefined
  /** The JSON body answered (absent for faults, errors before routing and the log-session text). */
  readonly response?: unknown
}

export interface State {
  readonly apps: Map<string, Json>
  readonly dynos: Map<string, Array<Json>>
  readonly formation: Map<string, Array<Json>>
  readonly configVars: Map<string, Record<string, string>>
  readonly releases: Map<string, Array<Json>>
  readonly builds: Map<string, Array<Json>>
  readonly addons: Map<string, Array<Json>>
  readonly domains: Map<string, Array<Json>>
  readonly collaborators: Map<string, Array<Json>>
  readonly pipelines: Map<string, Json>
  readonly logs: Map<string, Array<string>>
  readonly teams: Map<string, Json>
  readonly spaces: Map<string, Json>
  readonly attachments: Map<string, Array<Json>>
  readonly couplings: Map<string, Json>
  readonly promotions: Map<string, Json>
}

export interface AppOptions {
  readonly region?: string
  readonly config?: Record<string, string>
  /** The team (name) that owns the app. */
  readonly team?: string
  /** The private space (name) it runs in. */
  readonly space?: string
}

export interface FakeHeroku {
  readonly url: string
  readonly state: State
  readonly requests: ReadonlyArray<RecordedRequest>
  /** Queue a fault for the next matching request(s). */
  readonly inject: (fault: Fault) => void
  /** Create an app with one web dyno, a formation and a first release. */
  readonly addApp: (name: string, options?: AppOptions) => Json
  /** Create a team (the account is its admin). */
  readonly addTeam: (name: string) => Json
  /** Create a private space owned by a team. */
  readonly addSpace: (name: string, team: string, options?: { readonly region?: string; readonly shield?: boolean }) => Json
  /** Make an app's web dynos crash, with the router errors a real crash leaves in the logs. */
  readonly crash: (app: string) => void
  /** The files uploaded to a source's URL (`POST /sources`), unpacked; undefined when none were. */
  readonly sourceFiles: (url: string) => ReadonlyArray<SourceFile> | undefined
  /** Tokens left in the pool of a token's account right now. */
  readonly remaining: (token?: string) => number
  readonly close: () => Promise<void>
}

const covers = (scopes: ReadonlyArray<OAuthScope>, needed: OAuthScope): boolean =>
  scopes.some(
    (scope) =>
      scope === "global" ||
      scope === needed ||
      (needed === "read" && (scope === "write" || scope === "read-protected" || scope === "write-protected")) ||
      (needed === "write" && scope === "write-protected") ||
      (needed === "read-protected" && scope === "write-protected")
  )

/** Starts a fake on 127.0.0.1 with a free port. Close it with `close()`. */
export const start = async (options: Options = {}): Promise<FakeHeroku> => {
  const tokens = options.tokens ?? { "test-token": ["global"] }
  const policy = options.rateLimit ?? { capacity: 4500, refillPerMinute: 75 }
  const now = options.now ?? Date.now
  const email = options.accountEmail ?? "owner@example.com"
  const pools = new Map<string, { tokens: number; at: number }>()
  const faults: Array<Fault> = []
  const requests: Array<RecordedRequest> = []
  const state: State = {
    apps: new Map(),
    dynos: new Map(),
    formation: new Map(),
    configVars: new Map(),
    releases: new Map(),
    builds: new Map(),
    addons: new Map(),
    domains: new Map(),
    collaborators: new Map(),
    pipelines: new Map(),
    logs: new Map(),
    teams: new Map(),
    spaces: new Map(),
    attachments: new Map(),
    couplings: new Map(),
    promotions: new Map()
  }
  const logSessions = new Map<string, { appId: string; lines: number; dyno?: string; source?: string }>()
  let baseUrl = ""
  let sequence = 0
  const stamp = () => new Date(1_700_000_000_000 + ++sequence * 1000).toISOString()
  const owner = { id: "00000000-0000-4000-8000-000000000001", email }

  const pool = (token: string) => {
    const account = options.accounts?.[token] ?? "owner"
    const current = pools.get(account) ?? { tokens: policy.capacity, at: now() }
    const t = now()
    const refilled = Math.min(policy.capacity, current.tokens + ((t - current.at) * policy.refillPerMinute) / 60_000)
    const next = { tokens: refilled, at: t }
    pools.set(account, next)
    return next
  }

  const findApp = (idOrName: string): Json => {
    const decoded = decodeURIComponent(idOrName)
    for (const app of state.apps.values()) if (app["id"] === decoded || app["name"] === decoded) return app
    throw notFound("app")
  }
  const listOf = (map: Map<string, Array<Json>>, appId: string) => {
    let list = map.get(appId)
    if (list === undefined) map.set(appId, (list = []))
    return list
  }
  const log = (appId: string, source: string, dyno: string, line: string) => {
    const lines = state.logs.get(appId) ?? []
    lines.push(`${stamp()} ${source}[${dyno}]: ${line}`)
    state.logs.set(appId, lines)
  }
  const ref = (app: Json) => ({ id: app["id"], name: app["name"] })

  const syncDynos = (app: Json) => {
    const dynos: Array<Json> = []
    for (const f of listOf(state.formation, app["id"])) {
      for (let i = 1; i <= f["quantity"]; i++) {
        const name = `${f["type"]}.${i}`
        const existing = listOf(state.dynos, app["id"]).find((d) => d["name"] === name)
        dynos.push(
          existing ?? {
            id: randomUUID(),
            name,
            type: f["type"],
            command: f["command"],
            state: "up",
            size: f["dyno_size"]["name"],
            attach_url: null,
            app: ref(app),
            release: currentRelease(app),
            created_at: stamp(),
            updated_at: stamp()
          }
        )
      }
    }
    const oneOffs = listOf(state.dynos, app["id"]).filter((d) => d["type"] === "run")
    state.dynos.set(app["id"], [...dynos, ...oneOffs])
  }

  const currentRelease = (app: Json) => {
    const current = listOf(state.releases, app["id"]).find((r) => r["current"])
    return current === undefined ? null : { id: current["id"], version: current["version"] }
  }

  const release = (app: Json, description: string, slugId: string | null) => {
    const releases = listOf(state.releases, app["id"])
    for (const r of releases) r["current"] = false
    const r = {
      id: randomUUID(),
      version: releases.length + 1,
      status: "succeeded",
      description,
      current: true,
      eligible_for_rollback: true,
      slug: slugId === null ? null : { id: slugId },
      artifacts: slugId === null ? [] : [{ type: "slug", id: slugId }],
      app: ref(app),
      user: owner,
      output_stream_url: null,
      addon_plan_names: listOf(state.addons, app["id"]).map((a) => a["plan"]["name"]),
      created_at: stamp(),
      updated_at: stamp()
    }
    releases.push(r)
    app["released_at"] = r["created_at"]
    log(app["id"], "app", "api", `Release v${r.version} created by user ${email}`)
    return r
  }

  const findIn = (map: Map<string, Json>, key: string, what: string): Json => {
    const decoded = decodeURIComponent(key)
    for (const item of map.values()) if (item["id"] === decoded || item["name"] === decoded) return item
    throw notFound(what)
  }
  const addTeam = (name: string): Json => {
    const team = { id: randomUUID(), name, type: "team", role: "admin", default: false, membership_limit: null, created_at: stamp(), updated_at: stamp() }
    state.teams.set(team.id, team)
    return team
  }
  const addSpace = (name: string, teamName: string, opts?: { readonly region?: string; readonly shield?: boolean }): Json => {
    const team = findIn(state.teams, teamName, "team")
    const space = {
      id: randomUUID(),
      name,
      shield: opts?.shield ?? false,
      state: "allocated",
      region: regionOf(opts?.region ?? "virginia"),
      team: ref(team),
      organization: { name: team["name"] },
      cidr: "10.0.0.0/16",
      data_cidr: "10.1.0.0/16",
      generation: CEDAR,
      created_at: stamp(),
      updated_at: stamp()
    }
    state.spaces.set(space.id, space)
    return space
  }

  const addApp = (name: string, opts?: AppOptions) => {
    if ([...state.apps.values()].some((a) => a["name"] === name)) throw invalid("Name is already taken")
    const team = opts?.team === undefined ? null : findIn(state.teams, opts.team, "team")
    const space = opts?.space === undefined ? null : findIn(state.spaces, opts.space, "space")
    const app: Json = {
      id: randomUUID(),
      name,
      acm: false,
      archived_at: null,
      build_stack: STACK,
      stack: STACK,
      generation: CEDAR,
      region: space === null ? regionOf(opts?.region ?? "us") : space["region"],
      maintenance: false,
      owner: team === null ? owner : { id: team["id"], email: `${team["name"]}@herokumanager.com` },
      organization: team === null ? null : ref(team),
      team: team === null ? null : ref(team),
      space: space === null ? null : { id: space["id"], name: space["name"], shield: space["shield"] },
      git_url: `https://git.heroku.com/${name}.git`,
      web_url: `https://${name}.herokuapp.com/`,
      released_at: null,
      created_at: stamp(),
      updated_at: stamp()
    }
    state.apps.set(app["id"], app)
    state.configVars.set(app["id"], { ...opts?.config })
    state.formation.set(app["id"], [
      {
        id: randomUUID(),
        type: "web",
        command: "npm start",
        quantity: 1,
        size: "Basic",
        dyno_size: dynoSize("Basic"),
        app: ref(app),
        created_at: stamp(),
        updated_at: stamp()
      }
    ])
    release(app, "Initial release", randomUUID())
    syncDynos(app)
    return app
  }

  const crash = (name: string) => {
    const app = findApp(name)
    for (const dyno of listOf(state.dynos, app["id"])) {
      if (dyno["type"] !== "web") continue
      dyno["state"] = "crashed"
      log(app["id"], "app", dyno["name"], "Error: Cannot find module 'express'")
      log(app["id"], "heroku", dyno["name"], "State changed from up to crashed")
    }
    log(app["id"], "heroku", "router", `at=error code=H10 desc="App crashed" method=GET path="/" host=${name}.herokuapp.com status=503`)
  }

  const formationEntry = (app: Json, type: string) => {
    const entry = listOf(state.formation, app["id"]).find((f) => f["type"] === type || f["id"] === type)
    if (entry === undefined) throw notFound("formation")
    return entry
  }
  // Heroku's schema: an update has `quantity` and `dyno_size` ({ id } or { name }); `size` (a name) is
  // deprecated but still taken, as Heroku's CLI sends it. A batch item also has `type`. Nothing else.
  const formationFields = (update: Json, allowed: ReadonlyArray<string>) => {
    for (const key of Object.keys(update)) if (!allowed.includes(key)) throw invalid(`Invalid formation update: unknown property ${key}.`)
    if (update["size"] !== undefined && typeof update["size"] !== "string") throw invalid("Size must be a string.")
    const given = update["dyno_size"]
    if (given !== undefined) {
      const keys = typeof given === "object" && given !== null && !Array.isArray(given) ? Object.keys(given) : []
      if (keys.length !== 1 || !(keys[0] === "id" || keys[0] === "name") || typeof given[keys[0]] !== "string") {
        throw invalid("dyno_size must be an object with an id or a name.")
      }
    }
    const named = given?.["id"] ?? given?.["name"] ?? update["size"]
    if (named !== undefined && dynoSize(named) === undefined) throw invalid(`No such dyno size: ${named}.`)
  }
  const updateFormation = (app: Json, entry: Json, update: Json) => {
    if (update["quantity"] !== undefined) {
      if (!Number.isInteger(update["quantity"]) || update["quantity"] < 0) throw invalid("Quantity must be a non-negative integer.")
      entry["quantity"] = update["quantity"]
    }
    const named = update["dyno_size"]?.["id"] ?? update["dyno_size"]?.["name"] ?? update["size"]
    if (named !== undefined) {
      const size = dynoSize(named)!
      entry["size"] = size.name
      entry["dyno_size"] = size
    }
    entry["updated_at"] = stamp()
    log(app["id"], "heroku", "api", `Scaled ${entry["type"]} to ${entry["quantity"]}:${entry["size"]}`)
    syncDynos(app)
    return entry
  }
  const stop = (app: Json, dynos: ReadonlyArray<Json>) => {
    for (const dyno of dynos) {
      dyno["state"] = "down"
      dyno["updated_at"] = stamp()
      log(app["id"], "heroku", dyno["name"], "Stopping process; State changed from up to down")
    }
  }
  const ofType = (app: Json, type: string) => {
    const decoded = decodeURIComponent(type)
    const dynos = listOf(state.dynos, app["id"]).filter((d) => d["type"] === decoded)
    if (dynos.length === 0) throw notFound("process type")
    return dynos
  }
  const restart = (app: Json, dynos: ReadonlyArray<Json>) => {
    for (const dyno of dynos) {
      dyno["state"] = "up"
      dyno["updated_at"] = stamp()
      log(app["id"], "heroku", dyno["name"], "Restarting; State changed from crashed to up")
    }
  }
  const byKey = (list: ReadonlyArray<Json>, key: string, ...fields: ReadonlyArray<string>) => {
    const decoded = decodeURIComponent(key)
    const found = list.find((item) => fields.some((f) => String(item[f]) === decoded))
    return found
  }
  const mustFind = (list: ReadonlyArray<Json>, key: string, what: string, ...fields: ReadonlyArray<string>) => {
    const found = byKey(list, key, ...fields)
    if (found === undefined) throw notFound(what)
    return found
  }
  const remove = (list: Array<Json>, item: Json) => list.splice(list.indexOf(item), 1)
  const need = (body: Json, field: string) => {
    if (body[field] === undefined || body[field] === null) throw invalid(`Missing required param: ${field}.`)
    return body[field]
  }

  const build = (app: Json, blob: Json) => {
    const slug = randomUUID()
    const rel = release(app, `Deploy ${blob["version"] ?? "source"}`, slug)
    const built = {
      id: randomUUID(),
      status: "succeeded",
      source_blob: { url: blob["url"], version: blob["version"] ?? null, checksum: blob["checksum"] ?? null, version_description: null },
      release: { id: rel.id },
      slug: { id: slug },
      output_stream_url: `${baseUrl}/build-output/${randomUUID()}`,
      app: { id: app["id"] },
      user: owner,
      created_at: stamp(),
      updated_at: stamp()
    }
    listOf(state.builds, app["id"]).push(built)
    return built
  }
  const sources = sourceStore(() => baseUrl)

  const A = "/apps/([^/]+)"
  const routes: ReadonlyArray<Route> = [
    { method: "GET", pattern: /^\/apps$/, scope: "read", ranges: ["id", "name", "updated_at"], handle: () => ({ body: [...state.apps.values()] }) },
    { method: "GET", pattern: new RegExp(`^${A}$`), scope: "read", handle: ([a]) => ({ body: findApp(a!) }) },
    {
      method: "POST",
      pattern: /^\/apps$/,
      scope: "write",
      handle: (_, body) => {
        const name = body["name"] ?? `app-${randomUUID().slice(0, 8)}`
        if (!/^[a-z][a-z0-9-]{1,28}[a-z0-9]$/.test(name)) throw invalid("Name must start with a letter, end with a letter or digit and can only contain lowercase letters, digits, and dashes.")
        return { status: 201, body: addApp(name, { region: body["region"] ?? "us" }) }
      }
    },
    {
      method: "PATCH",
      pattern: new RegExp(`^${A}$`),
      scope: "write",
      handle: ([a], body) => {
        const app = findApp(a!)
        if (body["maintenance"] !== undefined) app["maintenance"] = Boolean(body["maintenance"])
        if (body["name"] !== undefined) app["name"] = body["name"]
        app["updated_at"] = stamp()
        return { body: app }
      }
    },
    {
      method: "DELETE",
      pattern: new RegExp(`^${A}$`),
      scope: "write",
      handle: ([a]) => {
        const app = findApp(a!)
        state.apps.delete(app["id"])
        return { body: app }
      }
    },
    { method: "GET", pattern: new RegExp(`^${A}/dynos$`), scope: "read", ranges: ["id", "name"], handle: ([a]) => ({ body: listOf(state.dynos, findApp(a!)["id"]) }) },
    {
      method: "GET",
      pattern: new RegExp(`^${A}/dynos/([^/]+)$`),
      scope: "read",
      handle: ([a, d]) => {
        const dyno = mustFind(listOf(state.dynos, findApp(a!)["id"]), d!, "dyno", "id", "name")
        return { body: dyno }
      }
    },
    {
      method: "POST",
      pattern: new RegExp(`^${A}/dynos$`),
      scope: "write",
      handle: ([a], body) => {
        const app = findApp(a!)
        const command = need(body, "command")
        const dynos = listOf(state.dynos, app["id"])
        const dyno = {
          id: randomUUID(),
          name: `run.${1000 + dynos.length}`,
          type: "run",
          command,
          state: "starting",
          size: body["size"] ?? "Basic",
          attach_url: body["attach"] === true ? `rendezvous://rendezvous.runtime.heroku.com:5000/${randomUUID()}` : null,
          app: ref(app),
          release: currentRelease(app),
          created_at: stamp(),
          updated_at: stamp()
        }
        dynos.push(dyno)
        log(app["id"], "heroku", dyno.name, `Starting process with command \`${command}\``)
        return { status: 201, body: dyno }
      }
    },
    {
      method: "DELETE",
      pattern: new RegExp(`^${A}/dynos/([^/]+)$`),
      scope: "write",
      handle: ([a, d]) => {
        const app = findApp(a!)
        const dyno = mustFind(listOf(state.dynos, app["id"]), d!, "dyno", "id", "name")
        restart(app, [dyno])
        return { status: 202, body: {} }
      }
    },
    {
      method: "DELETE",
      pattern: new RegExp(`^${A}/dynos$`),
      scope: "write",
      handle: ([a]) => {
        const app = findApp(a!)
        restart(app, listOf(state.dynos, app["id"]))
        return { status: 202, body: {} }
      }
    },
    { method: "GET", pattern: new RegExp(`^${A}/formation$`), scope: "read", ranges: ["id", "type"], handle: ([a]) => ({ body: listOf(state.formation, findApp(a!)["id"]) }) },
    {
      method: "PATCH",
      pattern: new RegExp(`^${A}/formation/([^/]+)$`),
      scope: "write",
      handle: ([a, t], body) => {
        const app = findApp(a!)
        formationFields(body, ["quantity", "dyno_size", "size"])
        return { body: updateFormation(app, formationEntry(app, decodeURIComponent(t!)), body) }
      }
    },
    {
      method: "PATCH",
      pattern: new RegExp(`^${A}/formation$`),
      scope: "write",
      handle: ([a], body) => {
        const app = findApp(a!)
        const updates = need(body, "updates") as Array<Json>
        for (const u of updates) formationFields(u, ["type", "quantity", "dyno_size", "size"])
        return { body: updates.map((u) => updateFormation(app, formationEntry(app, need(u, "type")), u)) }
      }
    },
    { method: "GET", pattern: new RegExp(`^${A}/config-vars$`), scope: "read-protected", handle: ([a]) => ({ body: state.configVars.get(findApp(a!)["id"]) }) },
    {
      method: "PATCH",
      pattern: new RegExp(`^${A}/config-vars$`),
      scope: "write-protected",
      handle: ([a], body) => {
        const app = findApp(a!)
        const vars = state.configVars.get(app["id"])!
        for (const [key, value] of Object.entries(body)) {
          if (!/^\w+$/.test(key)) throw invalid(`Invalid config var name: ${key}`)
          if (value === null) delete vars[key]
          else vars[key] = String(value)
        }
        release(app, `Set ${Object.keys(body).join(", ")} config vars`, currentRelease(app)?.id ?? null)
        return { body: vars }
      }
    },
    { method: "GET", pattern: new RegExp(`^${A}/releases$`), scope: "read", ranges: ["id", "version"], handle: ([a]) => ({ body: listOf(state.releases, findApp(a!)["id"]) }) },
    {
      method: "GET",
      pattern: new RegExp(`^${A}/releases/([^/]+)$`),
      scope: "read",
      handle: ([a, r]) => {
        const found = mustFind(listOf(state.releases, findApp(a!)["id"]), r!, "release", "id", "version")
        return { body: found }
      }
    },
    {
      method: "POST",
      pattern: new RegExp(`^${A}/releases$`),
      scope: "write",
      handle: ([a], body) => {
        const app = findApp(a!)
        if (body["release"] !== undefined) {
          const target = byKey(listOf(state.releases, app["id"]), body["release"], "id")
          if (target === undefined) throw notFound("release")
          return { status: 201, body: release(app, `Rollback to v${target["version"]}`, target["slug"]?.["id"] ?? null) }
        }
        return { status: 201, body: release(app, body["description"] ?? "Deploy", need(body, "slug")) }
      }
    },
    { method: "GET", pattern: new RegExp(`^${A}/builds$`), scope: "read", ranges: ["id", "started_at"], handle: ([a]) => ({ body: listOf(state.builds, findApp(a!)["id"]) }) },
    {
      method: "GET",
      pattern: new RegExp(`^${A}/builds/([^/]+)$`),
      scope: "read",
      handle: ([a, b]) => {
        const found = mustFind(listOf(state.builds, findApp(a!)["id"]), b!, "build", "id")
        return { body: found }
      }
    },
    {
      method: "POST",
      pattern: new RegExp(`^${A}/builds$`),
      scope: "write",
      handle: ([a], body) => {
        const blob = need(body, "source_blob")
        if (typeof blob["url"] !== "string") throw invalid("Missing required param: source_blob.url.")
        return { status: 201, body: build(findApp(a!), blob) }
      }
    },
    { method: "GET", pattern: new RegExp(`^${A}/addons$`), scope: "read", ranges: ["id", "name"], handle: ([a]) => ({ body: listOf(state.addons, findApp(a!)["id"]) }) },
    {
      method: "GET",
      pattern: new RegExp(`^${A}/addons/([^/]+)$`),
      scope: "read",
      handle: ([a, x]) => {
        const found = mustFind(listOf(state.addons, findApp(a!)["id"]), x!, "add-on", "id", "name")
        return { body: found }
      }
    },
    {
      method: "POST",
      pattern: new RegExp(`^${A}/addons$`),
      scope: "write",
      handle: ([a], body) => {
        const app = findApp(a!)
        const plan = String(need(body, "plan"))
        const [service] = plan.split(":")
        const attachment = body["attachment"]?.["name"]
        const varName =
          typeof attachment === "string" ? `${attachment}_URL` : service === "heroku-postgresql" ? "DATABASE_URL" : service === "heroku-inference" ? "INFERENCE_URL" : `${service!.toUpperCase().replace(/-/g, "_")}_URL`
        const addon = {
          id: randomUUID(),
          name: body["name"] ?? `${service}-${randomUUID().slice(0, 6)}`,
          addon_service: { id: randomUUID(), name: service },
          plan: { id: randomUUID(), name: plan },
          app: ref(app),
          state: "provisioned",
          config_vars: [varName],
          billed_price: { cents: 500, unit: "month", contract: false },
          billing_entity: { id: app["id"], name: app["name"], type: "app" },
          provider_id: `resource${randomUUID().slice(0, 8)}@heroku.com`,
          actions: [],
          web_url: null,
          created_at: stamp(),
          updated_at: stamp()
        }
        listOf(state.addons, app["id"]).push(addon)
        listOf(state.attachments, app["id"]).push({
          id: randomUUID(),
          name: varName.replace(/_URL$/, ""),
          addon: { id: addon.id, name: addon.name, app: ref(app) },
          app: ref(app),
          namespace: null,
          web_url: null,
          log_input_url: null,
          created_at: stamp(),
          updated_at: stamp()
        })
        const inference = inferenceVars(plan, typeof attachment === "string" ? attachment : undefined, options.inference)
        if (inference !== undefined) addon.config_vars = Object.keys(inference)
        Object.assign(state.configVars.get(app["id"])!, inference ?? { [varName]: `${service}://user:secret@host/db` })
        return { status: 201, body: addon }
      }
    },
    {
      method: "DELETE",
      pattern: new RegExp(`^${A}/addons/([^/]+)$`),
      scope: "write",
      handle: ([a, x]) => {
        const app = findApp(a!)
        const list = listOf(state.addons, app["id"])
        const found = mustFind(list, x!, "add-on", "id", "name")
        remove(list, found)
        state.attachments.set(app["id"], listOf(state.attachments, app["id"]).filter((a) => a["addon"]["id"] !== found["id"]))
        for (const v of found["config_vars"]) delete state.configVars.get(app["id"])![v]
        return { body: { ...found, state: "deprovisioned" } }
      }
    },
    { method: "GET", pattern: new RegExp(`^${A}/domains$`), scope: "read", ranges: ["id", "hostname"], handle: ([a]) => ({ body: listOf(state.domains, findApp(a!)["id"]) }) },
    {
      method: "POST",
      pattern: new RegExp(`^${A}/domains$`),
      scope: "write",
      handle: ([a], body) => {
        const app = findApp(a!)
        const hostname = need(body, "hostname")
        if (!("sni_endpoint" in body)) throw invalid("Missing required param: sni_endpoint.")
        const domain = {
          id: randomUUID(),
          hostname,
          kind: "custom",
          cname: `${hostname.replace(/\./g, "-")}.herokudns.com`,
          status: "pending",
          sni_endpoint: null,
          app: ref(app),
          created_at: stamp(),
          updated_at: stamp()
        }
        listOf(state.domains, app["id"]).push(domain)
        return { status: 201, body: domain }
      }
    },
    {
      method: "DELETE",
      pattern: new RegExp(`^${A}/domains/([^/]+)$`),
      scope: "write",
      handle: ([a, d]) => {
        const list = listOf(state.domains, findApp(a!)["id"])
        const found = mustFind(list, d!, "domain", "id", "hostname")
        remove(list, found)
        return { body: found }
      }
    },
    { method: "GET", pattern: new RegExp(`^${A}/collaborators$`), scope: "read", ranges: ["id", "email"], handle: ([a]) => ({ body: listOf(state.collaborators, findApp(a!)["id"]) }) },
    {
      method: "POST",
      pattern: new RegExp(`^${A}/collaborators$`),
      scope: "write",
      handle: ([a], body) => {
        const app = findApp(a!)
        const user = String(need(body, "user"))
        if (!user.includes("@")) throw invalid("User must be an email address.")
        const collaborator = {
          id: randomUUID(),
          app: ref(app),
          user: { id: randomUUID(), email: user, federated: false },
          role: "collaborator",
          permissions: [],
          created_at: stamp(),
          updated_at: stamp()
        }
        listOf(state.collaborators, app["id"]).push(collaborator)
        return { status: 201, body: collaborator }
      }
    },
    {
      method: "DELETE",
      pattern: new RegExp(`^${A}/collaborators/([^/]+)$`),
      scope: "write",
      handle: ([a, c]) => {
        const list = listOf(state.collaborators, findApp(a!)["id"])
        const decoded = decodeURIComponent(c!)
        const found = list.find((x) => x["id"] === decoded || x["user"]["email"] === decoded)
        if (found === undefined) throw notFound("collaborator")
        remove(list, found)
        return { body: found }
      }
    },
    { method: "GET", pattern: /^\/pipelines$/, scope: "read", ranges: ["id", "name"], handle: () => ({ body: [...state.pipelines.values()] }) },
    {
      method: "GET",
      pattern: /^\/pipelines\/([^/]+)$/,
      scope: "read",
      handle: ([p]) => {
        const found = mustFind([...state.pipelines.values()], p!, "pipeline", "id", "name")
        return { body: found }
      }
    },
    {
      method: "POST",
      pattern: /^\/pipelines$/,
      scope: "write",
      handle: (_, body) => {
        const name = String(need(body, "name"))
        if (!/^[a-z][a-z0-9-]{2,29}$/.test(name)) throw invalid("Name must be 3-30 lowercase letters, digits or dashes.")
        const pipeline = { id: randomUUID(), name, owner: body["owner"] ?? null, generation: CEDAR, created_at: stamp(), updated_at: stamp() }
        state.pipelines.set(pipeline.id, pipeline)
        return { status: 201, body: pipeline }
      }
    },
    {
      method: "POST",
      pattern: new RegExp(`^${A}/log-sessions$`),
      scope: "write",
      handle: ([a], body) => {
        const app = findApp(a!)
        const id = randomUUID()
        // version=3 names the filters dyno_name and type; 3.sdk (and Heroku's CLI) sends dyno: all are taken.
        for (const key of Object.keys(body)) if (!["dyno_name", "type", "dyno", "lines", "source", "tail"].includes(key)) throw invalid(`Unknown log-session property ${key}.`)
        logSessions.set(id, { appId: app["id"], lines: body["lines"] ?? 100, dyno: body["dyno_name"] ?? body["type"] ?? body["dyno"], source: body["source"] })
        return { status: 201, body: { id, logplex_url: `${baseUrl}/logplex/${id}?srv=${randomUUID()}`, created_at: stamp(), updated_at: stamp() } }
      }
    },
    ...coverageRoutes({
      state,
      findApp,
      findIn,
      listOf,
      mustFind,
      need,
      stamp,
      release,
      currentRelease,
      restart,
      stop,
      ofType,
      formationEntry,
      addApp
    }),
    ...sourceRoutes({ state, findApp, findIn, listOf, mustFind, need, stamp, release, currentRelease, restart, stop, ofType, formationEntry, addApp, sources, build: (app, url) => build(app, { url }) }),
    {
      method: "GET",
      pattern: /^\/account$/,
      scope: "identity",
      handle: () => ({
        body: { ...owner, name: "Owner", verified: true, two_factor_authentication: true, beta: false, allow_tracking: false, federated: false, created_at: stamp(), updated_at: stamp() }
      })
    }
  ]

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "Content-Type": "application/json", "Request-Id": randomUUID(), ...headers })
    res.end(body === undefined ? "" : JSON.stringify(body))
  }
  const sendError = (res: ServerResponse, error: HttpError, headers: Record<string, string> = {}) =>
    send(res, error.status, { id: error.id, message: error.message, url: ERROR_URL }, headers)

  const page = (items: ReadonlyArray<Json>, rangeHeader: string | undefined, allowed: ReadonlyArray<string>) => {
    const match = rangeHeader === undefined ? null : /^\s*(\w+)\s+(\]?)([^;,]*?)\.\.([^;,]*)(.*)$/.exec(rangeHeader)
    if (rangeHeader !== undefined && match === null) throw new HttpError(416, "requested_range_not_satisfiable", "Invalid Range header.")
    const field = match?.[1] ?? "id"
    if (!allowed.includes(field)) throw new HttpError(416, "requested_range_not_satisfiable", `Invalid range: ${field} is not one of ${allowed.join(", ")}.`)
    const params = Object.fromEntries((match?.[5] ?? "").split(/[;,]/).map((p) => p.split("=").map((s) => s.trim())).filter((p) => p.length === 2))
    const max = params["max"] === undefined ? 200 : Number(params["max"])
    if (!Number.isInteger(max) || max < 1 || max > 1000) throw new HttpError(416, "requested_range_not_satisfiable", "max must be between 1 and 1000.")
    const order = params["order"] === "desc" ? "desc" : "asc"
    const value = (item: Json) => (field === "email" ? item["user"]?.["email"] : item[field])
    const compare = (x: unknown, y: unknown) =>
      typeof x === "number" && typeof y === "number" ? x - y : String(x) < String(y) ? -1 : String(x) > String(y) ? 1 : 0
    let sorted = [...items].sort((x, y) => (order === "asc" ? compare(value(x), value(y)) : compare(value(y), value(x))))
    const start = match?.[3]?.trim()
    if (start) {
      const exclusive = match?.[2] === "]"
      const startValue: unknown = typeof value(sorted[0] ?? {}) === "number" ? Number(start) : start
      sorted = sorted.filter((item) => {
        const c = order === "asc" ? compare(value(item), startValue) : compare(startValue, value(item))
        return exclusive ? c > 0 : c >= 0
      })
    }
    const slice = sorted.slice(0, max)
    const headers: Record<string, string> = { "Accept-Ranges": allowed.join(", ") }
    if (slice.length > 0) headers["Content-Range"] = `${field} ${value(slice[0]!)}..${value(slice[slice.length - 1]!)}; max=${max}`
    if (sorted.length > max) {
      headers["Next-Range"] = `${field} ]${value(slice[slice.length - 1]!)}..; max=${max}${order === "desc" ? ", order=desc" : ""}`
      return { status: 206, body: slice, headers }
    }
    return { status: 200, body: slice, headers }
  }

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Array<Buffer> = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const bytes = Buffer.concat(chunks)
    const raw = bytes.toString("utf8")
    const url = new URL(req.url ?? "/", "http://localhost")
    const method = req.method ?? "GET"
    const path = url.pathname
    const record = (status: number, authorized: boolean, response?: unknown) =>
      requests.push({
        // A copy: the state it came from changes with later requests.
        ...(response === undefined ? {} : { response: structuredClone(response) }),
        method,
        path,
        range: req.headers["range"],
        authorized,
        body: raw.length > 0 ? safeJson(raw) : undefined,
        status,
        accept: req.headers["accept"],
        twoFactorCode: headerOf(req, "heroku-two-factor-code")
      })

    const fault = await takeFault(faults, method, path)
    if (fault !== undefined) {
      if (fault.drop === true) {
        record(0, false)
        req.socket.destroy()
        return
      }
      if (fault.status !== undefined && fault.raw !== undefined) {
        record(fault.status, false)
        res.writeHead(fault.status, { "Content-Type": "text/html", "Request-Id": randomUUID(), ...fault.headers }).end(fault.raw)
        return
      }
      if (fault.status !== undefined) {
        record(fault.status, false)
        send(res, fault.status, fault.body ?? { id: fault.status === 503 ? "service_unavailable" : "error", message: "Injected fault", url: ERROR_URL }, fault.headers)
        return
      }
    }

    // A source's upload URL is not the API (S3 on Heroku): raw bytes, no token.
    if (sources.serve(req, res, path, bytes)) {
      record(res.statusCode, false)
      return
    }

    // The log session URL carries its own credential: no Authorization header, no pool.
    const logplex = /^\/logplex\/([^/]+)$/.exec(path)
    if (logplex !== null && method === "GET") {
      const session = logSessions.get(logplex[1]!)
      if (session === undefined || !url.searchParams.has("srv")) {
        res.writeHead(404).end("not found")
        return
      }
      const lines = (state.logs.get(session.appId) ?? [])
        .filter((l) => (session.dyno === undefined || l.includes(`[${session.dyno}`)) && (session.source === undefined || l.includes(` ${session.source}[`)))
        .slice(-session.lines)
      res.writeHead(200, { "Content-Type": "text/plain" }).end(lines.map((l) => `${l}\n`).join(""))
      record(200, false)
      return
    }

    if (!/^application\/vnd\.heroku\+json;\s*version=3(\.sdk)?$/.test(req.headers["accept"] ?? "")) {
      record(406, false)
      return sendError(res, new HttpError(406, "not_acceptable", "Please set Accept: application/vnd.heroku+json; version=3 header and try again."))
    }
    const token = credential(req.headers["authorization"])
    const scopes = token === undefined ? undefined : tokens[token]
    if (token === undefined || scopes === undefined) {
      record(401, false)
      return sendError(res, new HttpError(401, "unauthorized", "Invalid credentials provided."))
    }
    const free = method === "GET" && path === "/account/rate-limits"
    if (free && !covers(scopes, "identity")) {
      record(403, true)
      return sendError(res, new HttpError(403, "forbidden", "This operation needs the identity scope, which this token does not have."))
    }
    const bucket = pool(token)
    if (!free) {
      if (bucket.tokens < 1) {
        record(429, true)
        return sendError(res, new HttpError(429, "rate_limit", "Your account reached the API rate limit. Please wait a few minutes before making new requests"), {
          "RateLimit-Remaining": "0"
        })
      }
      bucket.tokens -= 1
    }
    const remaining = { "RateLimit-Remaining": String(Math.floor(bucket.tokens)) }
    if (free) {
      const limits = { remaining: Math.floor(bucket.tokens) }
      record(200, true, limits)
      return send(res, 200, limits, remaining)
    }
    for (const route of routes) {
      if (route.method !== method) continue
      const match = route.pattern.exec(path)
      if (match === null) continue
      if (!covers(scopes, route.scope)) {
        record(403, true)
        return sendError(res, new HttpError(403, "forbidden", `This operation needs the ${route.scope} scope, which this token does not have.`), remaining)
      }
      const secondFactor = options.twoFactor
      if (
        secondFactor !== undefined &&
        secondFactor.paths.test(path) &&
        (secondFactor.methods === undefined || secondFactor.methods.includes(method)) &&
        headerOf(req, "heroku-two-factor-code") !== secondFactor.code
      ) {
        record(403, true)
        return sendError(res, new HttpError(403, "two_factor", "A second authentication factor or pre-authorization is required for this request."), remaining)
      }
      try {
        const body = raw.length === 0 ? {} : (JSON.parse(raw) as Json)
        const result = route.handle(match.slice(1), body)
        if (route.ranges !== undefined && Array.isArray(result.body)) {
          const paged = page(result.body as Array<Json>, req.headers["range"], route.ranges)
          record(paged.status, true, paged.body)
          return send(res, paged.status, paged.body, { ...remaining, ...paged.headers })
        }
        record(result.status ?? 200, true, result.body)
        return send(res, result.status ?? 200, result.body, remaining)
      } catch (error) {
        const httpError = error instanceof HttpError ? error : new HttpError(400, "bad_request", (error as Error).message)
        record(httpError.status, true)
        return sendError(res, httpError, remaining)
      }
    }
    record(404, true)
    return sendError(res, notFound("resource"), remaining)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      if (!res.headersSent) sendError(res, new HttpError(500, "internal_error", String(error)))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url: baseUrl,
    state,
    requests,
    inject: (fault) => void faults.push({ ...fault }),
    addApp,
    addTeam,
    addSpace,
    crash,
    sourceFiles: sources.files,
    remaining: (token = Object.keys(tokens)[0]!) => Math.floor(pool(token).tokens),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

const headerOf = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** The token from `Bearer <token>` or from HTTP Basic `<anything>:<token>` (what heroku-client and the CLI send). */
const credential = (authorization: string | undefined): string | undefined => {
  if (authorization === undefined) return undefined
  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization)
  if (bearer !== null) return bearer[1]
  const basic = /^Basic\s+([A-Za-z0-9+/]+=*)$/i.exec(authorization)
  if (basic === null) return undefined
  const decoded = Buffer.from(basic[1]!, "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  return colon === -1 ? undefined : decoded.slice(colon + 1) || undefined
}

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** `start` as a scoped Effect: the server closes with the scope. */
export const make = (options?: Options): Effect.Effect<FakeHeroku, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (fake) => Effect.promise(() => fake.close())
  )

/** The running fake, in a layer made by `layer` (e.g. `const fake = yield* FakeHerokuPlatform.Fake` to read its requests). */
export class Fake extends Context.Service<Fake, FakeHeroku>()("@agentloop/testing/FakeHerokuPlatform") {}

/**
 * The fake for the layer's lifetime, with the layer `model` makes for it: e.g.
 * `FakeHerokuPlatform.layer({}, (fake) => HerokuClient.layer({ baseUrl: fake.url, token: Redacted.make("token") }))`.
 * No scope to manage: the fake closes with the layer.
 */
export const layer = <ROut, E, R>(options: Options, model: (fake: FakeHeroku) => Layer.Layer<ROut, E, R>): Layer.Layer<Fake | ROut, E, R> =>
  layerWith(Fake, make(options), model)
