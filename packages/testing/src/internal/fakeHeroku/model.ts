/**
 * The fake's state model: the maps it keeps, and what changes them as Heroku would (an app is created with a
 * web dyno, a formation and a first release; scaling syncs the dynos; every change is logged). Routes and the
 * public `FakeHeroku` methods (`addApp`, `crash`...) share these, so a change made either way looks the same.
 *
 * @internal
 */
import { randomUUID } from "node:crypto"
import type { AppOptions, State } from "../../FakeHerokuPlatform.js"
import { CEDAR, dynoSize, regionOf, STACK } from "./catalog.js"
import { invalid, type Json, notFound } from "./http.js"

/** What routes use of the fake's state and helpers. */
export type Model = ReturnType<typeof makeModel>

/** A fresh, empty state for an account (`email`); `baseUrl` is where the fake listens, once it does. */
export const makeModel = (email: string, baseUrl: () => string) => {
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
  let sequence = 0
  const stamp = () => new Date(1_700_000_000_000 + ++sequence * 1000).toISOString()
  const owner = { id: "00000000-0000-4000-8000-000000000001", email }

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
      output_stream_url: `${baseUrl()}/build-output/${randomUUID()}`,
      app: { id: app["id"] },
      user: owner,
      created_at: stamp(),
      updated_at: stamp()
    }
    listOf(state.builds, app["id"]).push(built)
    return built
  }

  return {
    state,
    email,
    owner,
    stamp,
    findApp,
    findIn,
    listOf,
    log,
    ref,
    currentRelease,
    release,
    addTeam,
    addSpace,
    addApp,
    crash,
    formationEntry,
    updateFormation,
    stop,
    ofType,
    restart,
    byKey,
    mustFind,
    remove,
    need,
    build
  }
}
