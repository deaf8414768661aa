/**
 * The fake's routes for an app's lifecycle: apps, dynos, formation, config vars, releases and builds.
 *
 * @internal
 */
import { randomUUID } from "node:crypto"
import { dynoSize } from "./catalog.js"
import { invalid, type Json, notFound, type Route } from "./http.js"
import type { Model } from "./model.js"

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

const A = "/apps/([^/]+)"

export const appRoutes = ({ addApp, build, byKey, currentRelease, findApp, formationEntry, listOf, log, mustFind, need, ref, release, restart, stamp, state, updateFormation }: Model): ReadonlyArray<Route> => [
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
]
