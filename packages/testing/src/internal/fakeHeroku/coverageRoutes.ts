/**
 * The fake's routes for the tools that match Heroku's MCP server: dyno stops and restarts by process
 * type, formation info, teams and team apps, spaces, the add-on catalog, add-ons across apps, attachments,
 * pipeline couplings and promotions.
 *
 * @internal
 */
import { randomUUID } from "node:crypto"
import { CATALOG } from "./catalog.js"
import { invalid, type Json, notFound, type Route } from "./http.js"
import type { Model } from "./model.js"

const A = "/apps/([^/]+)"

export const coverageRoutes = ({
  addApp,
  currentRelease,
  findApp,
  findIn,
  formationEntry,
  listOf,
  mustFind,
  need,
  ofType,
  release,
  restart,
  stamp,
  state,
  stop
}: Model): ReadonlyArray<Route> => [
    // Stops and restarts by process type; one formation entry.
    {
      method: "POST",
      pattern: new RegExp(`^${A}/dynos/([^/]+)/actions/stop$`),
      scope: "write",
      handle: ([a, d]) => {
        const app = findApp(a!)
        stop(app, [mustFind(listOf(state.dynos, app["id"]), d!, "dyno", "id", "name")])
        return { status: 202, body: {} }
      }
    },
    {
      method: "DELETE",
      pattern: new RegExp(`^${A}/formations/([^/]+)$`),
      scope: "write",
      handle: ([a, t]) => {
        const app = findApp(a!)
        restart(app, ofType(app, t!))
        return { status: 202, body: {} }
      }
    },
    {
      method: "POST",
      pattern: new RegExp(`^${A}/formations/([^/]+)/actions/stop$`),
      scope: "write",
      handle: ([a, t]) => {
        const app = findApp(a!)
        stop(app, ofType(app, t!))
        return { status: 202, body: {} }
      }
    },
    { method: "GET", pattern: new RegExp(`^${A}/formation/([^/]+)$`), scope: "read", handle: ([a, t]) => { const app = findApp(a!); return { body: formationEntry(app, decodeURIComponent(t!)) } } },
    // Teams, team apps, spaces.
    { method: "GET", pattern: /^\/teams$/, scope: "read", ranges: ["id", "name"], handle: () => ({ body: [...state.teams.values()] }) },
    {
      method: "GET",
      pattern: /^\/teams\/([^/]+)\/apps$/,
      scope: "read",
      ranges: ["id", "name"],
      handle: ([t]) => {
        const team = findIn(state.teams, t!, "team")
        return { body: [...state.apps.values()].filter((app) => app["team"]?.["id"] === team["id"]) }
      }
    },
    {
      method: "POST",
      pattern: /^\/teams\/apps$/,
      scope: "write",
      handle: (_, body) => {
        for (const key of Object.keys(body)) if (!["team", "name", "region", "space", "stack", "locked", "personal", "internal_routing"].includes(key)) throw invalid(`Unknown property ${key}.`)
        const name = body["name"] ?? `app-${randomUUID().slice(0, 8)}`
        if (!/^[a-z][a-z0-9-]{1,28}[a-z0-9]$/.test(name)) throw invalid("Name must start with a letter, end with a letter or digit and can only contain lowercase letters, digits, and dashes.")
        if (body["space"] !== undefined && body["region"] !== undefined) throw invalid("Region cannot be set for an app in a space.")
        const app = addApp(name, {
          ...(body["team"] === undefined ? {} : { team: String(body["team"]) }),
          ...(body["space"] === undefined ? {} : { space: String(body["space"]) }),
          ...(body["region"] === undefined ? {} : { region: String(body["region"]) })
        })
        return { status: 201, body: { ...app, locked: body["locked"] ?? false, joined: false } }
      }
    },
    { method: "GET", pattern: /^\/spaces$/, scope: "read", ranges: ["id", "name"], handle: () => ({ body: [...state.spaces.values()] }) },
    { method: "GET", pattern: /^\/spaces\/([^/]+)$/, scope: "read", handle: ([x]) => ({ body: findIn(state.spaces, x!, "space") }) },
    // The add-on catalog, add-ons across apps, attachments.
    { method: "GET", pattern: /^\/addon-services$/, scope: "read", ranges: ["id", "name"], handle: () => ({ body: CATALOG.map((c) => c.service) }) },
    {
      method: "GET",
      pattern: /^\/addon-services\/([^/]+)\/plans$/,
      scope: "read",
      ranges: ["id", "name"],
      handle: ([x]) => {
        const decoded = decodeURIComponent(x!)
        const entry = CATALOG.find((c) => c.service["id"] === decoded || c.service["name"] === decoded)
        if (entry === undefined) throw notFound("add-on service")
        return { body: entry.plans }
      }
    },
    { method: "GET", pattern: /^\/addons$/, scope: "read", ranges: ["id", "name"], handle: () => ({ body: [...state.addons.values()].flat() }) },
    {
      method: "GET",
      pattern: /^\/addons\/([^/]+)$/,
      scope: "read",
      handle: ([x]) => ({ body: mustFind([...state.addons.values()].flat(), x!, "add-on", "id", "name") })
    },
    { method: "GET", pattern: new RegExp(`^${A}/addon-attachments$`), scope: "read", ranges: ["id", "name"], handle: ([a]) => ({ body: listOf(state.attachments, findApp(a!)["id"]) }) },
    {
      method: "GET",
      pattern: new RegExp(`^${A}/addon-attachments/([^/]+)$`),
      scope: "read",
      handle: ([a, x]) => ({ body: mustFind(listOf(state.attachments, findApp(a!)["id"]), x!, "add-on attachment", "id", "name") })
    },
    // Pipeline couplings and promotions (these endpoints take the pipeline's id, never its name).
    {
      method: "GET",
      pattern: /^\/pipelines\/([^/]+)\/pipeline-couplings$/,
      scope: "read",
      ranges: ["id"],
      handle: ([p]) => {
        const pipeline = state.pipelines.get(decodeURIComponent(p!))
        if (pipeline === undefined) throw notFound("pipeline")
        return { body: [...state.couplings.values()].filter((c) => c["pipeline"]["id"] === pipeline["id"]) }
      }
    },
    {
      method: "POST",
      pattern: /^\/pipeline-couplings$/,
      scope: "write",
      handle: (_, body) => {
        for (const key of Object.keys(body)) if (!["app", "pipeline", "stage"].includes(key)) throw invalid(`Unknown property ${key}.`)
        const app = findApp(String(need(body, "app")))
        const pipeline = state.pipelines.get(String(need(body, "pipeline")))
        if (pipeline === undefined) throw notFound("pipeline")
        const stage = String(need(body, "stage"))
        if (!["test", "review", "development", "staging", "production"].includes(stage)) throw invalid(`Invalid stage ${stage}.`)
        if ([...state.couplings.values()].some((c) => c["app"]["id"] === app["id"])) throw invalid("App is already in a pipeline.")
        const coupling = { id: randomUUID(), app: { id: app["id"] }, pipeline: { id: pipeline["id"] }, stage, created_at: stamp(), updated_at: stamp() }
        state.couplings.set(coupling.id, coupling)
        return { status: 201, body: coupling }
      }
    },
    {
      method: "POST",
      pattern: /^\/pipeline-promotions$/,
      scope: "write",
      handle: (_, body) => {
        const pipelineId = need(body, "pipeline")?.["id"]
        const sourceId = need(body, "source")?.["app"]?.["id"]
        const targets = need(body, "targets") as Array<Json>
        const pipeline = typeof pipelineId === "string" ? state.pipelines.get(pipelineId) : undefined
        if (pipeline === undefined) throw notFound("pipeline")
        const coupled = (id: unknown) => [...state.couplings.values()].some((c) => c["app"]["id"] === id && c["pipeline"]["id"] === pipeline["id"])
        if (!coupled(sourceId)) throw invalid("The source app is not in this pipeline.")
        if (!Array.isArray(targets) || targets.length === 0 || !targets.every((t) => coupled(t?.["app"]?.["id"]))) throw invalid("Every target app must be in this pipeline.")
        const source = state.apps.get(sourceId)!
        const slug = listOf(state.releases, source["id"]).find((r) => r["current"])?.["slug"]?.["id"] ?? null
        for (const t of targets) release(state.apps.get(t["app"]["id"])!, `Promote ${source["name"]}`, slug)
        const current = currentRelease(source)
        const promotion = {
          id: randomUUID(),
          pipeline: { id: pipeline["id"] },
          source: { app: { id: source["id"] }, release: { id: current?.id } },
          status: "completed",
          created_at: stamp(),
          updated_at: stamp()
        }
        state.promotions.set(promotion.id, promotion)
        return { status: 201, body: promotion }
      }
    },
    { method: "GET", pattern: /^\/pipeline-promotions\/([^/]+)$/, scope: "read", handle: ([x]) => ({ body: findIn(state.promotions, x!, "promotion") }) },

]
