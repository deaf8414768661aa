/**
 * The fake's routes for what an app has besides its code: add-ons (with their attachments and config vars),
 * domains and collaborators; and the account's pipelines and the account itself.
 *
 * @internal
 */
import { randomUUID } from "node:crypto"
import { CEDAR } from "./catalog.js"
import { invalid, notFound, type Route } from "./http.js"
import type { Model } from "./model.js"
import { type InferenceOptions, inferenceVars } from "./sourceRoutes.js"

const A = "/apps/([^/]+)"

export const resourceRoutes = (
  { findApp, listOf, mustFind, need, owner, ref, remove, stamp, state }: Model,
  inferenceFake: InferenceOptions | undefined
): ReadonlyArray<Route> => [
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
      const inference = inferenceVars(plan, typeof attachment === "string" ? attachment : undefined, inferenceFake)
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
    method: "GET",
    pattern: /^\/account$/,
    scope: "identity",
    handle: () => ({
      body: { ...owner, name: "Owner", verified: true, two_factor_authentication: true, beta: false, allow_tracking: false, federated: false, created_at: stamp(), updated_at: stamp() }
    })
  }
]
