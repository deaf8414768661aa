/**
 * The second round of hostile tests (issue 24): arguments of the wrong type handed to the handlers directly,
 * paging walks under a narrow grant, calls of tools the grant does not offer, and the same app named by
 * name and by id in the audit.
 */
import { Agent, AgentBackend, Approval, RunStore } from "@agentloop/core"
import { AuditLog, Grant, type HerokuClient, HerokuTools, Operations } from "@agentloop/heroku-platform"
import * as GrantedPages from "@agentloop/heroku-platform/internal/grantedPages"
import { FakeHerokuPlatform, ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Result } from "effect"
import { callHandler, clientLayer, execute, validArguments } from "./support.js"

const everything = (extra: Parameters<typeof Grant.make>[0] = {}) =>
  Grant.make({ agent: "ops-bot", access: Object.fromEntries(Operations.groups.map((g) => [g, "full"])), create: { apps: true, pipelines: true }, ...extra })

const harness = (fake: FakeHerokuPlatform.FakeHeroku, grant: Grant.Grant) =>
  HerokuTools.layer(grant).pipe(Layer.provideMerge(Layer.merge(clientLayer(fake), AuditLog.layerMemory)))

const entries = Effect.flatMap(AuditLog.AuditLog, (log) => log.entries)

describe("1. a handler checks its arguments' types itself", () => {
  /** Values that a loose check (`typeof`, `String(x)`, template literals) would take for "prod". */
  const confused: ReadonlyArray<readonly [string, unknown]> = [
    ["an array", ["prod"]],
    ["an array of two", ["prod", "staging"]],
    ["an object whose toString says prod", { toString: () => "prod" }],
    ["an object whose valueOf and toString say prod", { valueOf: () => "prod", toString: () => "prod", [Symbol.toPrimitive]: () => "prod" }],
    ["a String object", new String("prod")],
    ["a number", 42]
  ]

  it.live("every tool that takes an app or a pipeline refuses a non-string one: typed refusal, nothing sent, the refusal audited", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("staging")
      fake.addApp("prod")
      fake.state.pipelines.set("p", { id: "33333333-3333-4333-8333-333333333333", name: "prod", owner: null })
      const grant = everything({ apps: ["staging"], pipelines: ["staging-line"] })
      // Every parameter that names an app or a pipeline: `app`, `pipeline`, and a promotion's target apps.
      const keys = ["app", "pipeline", "to"] as const
      const targeted = Operations.operations.flatMap((o) => keys.filter((key) => key in o.parameters).map((key) => ({ operation: o, key })))
      expect(Operations.operations.filter((o) => /\{(app|pipeline)\}/.test(o.template)).every((o) => targeted.some((t) => t.operation === o))).toBe(true)
      const results = yield* Effect.gen(function* () {
        const out: Array<{ tool: string; what: string; result: Result.Result<unknown, unknown> }> = []
        for (const { key, operation } of targeted) {
          for (const [what, value] of confused) {
            const args = { ...validArguments[operation.tool], [key]: key === "to" ? [value] : value }
            const result = yield* callHandler(grant, operation.tool, args, "oncall", `${operation.tool}:${key}:${what}`)
            out.push({ tool: operation.tool, what: `${key}:${what}`, result })
          }
        }
        return { out, audit: yield* entries }
      }).pipe(Effect.provide(harness(fake, grant)))
      for (const { result, tool, what } of results.out) {
        expect(Result.isFailure(result), `${tool} with ${what}`).toBe(true)
        expect((result as Result.Failure<unknown, { error: string; message: string }>).failure, `${tool} with ${what}`).toMatchObject({ error: "InvalidArguments" })
      }
      // Nothing reached Heroku: not the app lookup, not the call.
      expect(fake.requests).toEqual([])
      expect(results.audit).toHaveLength(targeted.length * confused.length)
      for (const entry of results.audit) {
        expect(entry).toMatchObject({ kind: "refusal", decision: "refused", by: "handler", outcome: "not_run", agent: "ops-bot" })
        expect(entry.reason).toMatch(/^The arguments do not match heroku_\w+'s parameters: .*at (app|pipeline|to\.0)/)
        // An app that is not a string is not named (a promotion's valid source app is).
        if (entry.toolCallId.includes(":app:")) expect(entry.app).toBeUndefined()
      }
      expect(results.audit.map((e) => e.toolCallId)).toEqual(results.out.map((r) => `${r.tool}:${r.what}`))
    }))

  it.live("a well-typed call through the same handler still works (the check is the tool's own Schema)", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("staging")
      const grant = everything({ apps: ["staging"] })
      const result = yield* callHandler(grant, "heroku_apps_info", { app: "staging", extra: "ignored" }).pipe(Effect.provide(harness(fake, grant)))
      expect(result).toMatchObject({ _tag: "Success", success: { name: "staging" } })
    }))
})

describe("2. paging under a narrow grant learns nothing outside it", () => {
  const walk = (grant: Grant.Grant, tool: string, first: Record<string, unknown>) =>
    Effect.gen(function* () {
      const pages: Array<{ items: Array<Record<string, unknown>>; nextRange?: string }> = []
      const seen: Array<string> = []
      let args: Record<string, unknown> = first
      for (let i = 0; i < 20; i++) {
        const execution = yield* execute(grant, tool, args, undefined, `page-${i}`)
        seen.push(execution.content)
        expect(execution.isError, execution.content).toBe(false)
        const page = execution.value as { items: Array<Record<string, unknown>>; nextRange?: string }
        pages.push(page)
        if (page.nextRange === undefined) break
        args = { ...first, range: page.nextRange }
      }
      return { pages, seen: seen.join("\n") }
    })

  it.live("apps_list with max 1 under a grant for two apps: one granted app per page, and no other app's name or id anywhere", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      const hidden = ["a-prod", "b-billing", "n-secret-project", "t-acquisition-target", "z-last"].map((name) => fake.addApp(name))
      fake.addApp("m-staging")
      fake.addApp("s-staging")
      const grant = Grant.make({ access: { apps: "read" }, apps: ["m-staging", "s-staging"] })
      const { pages, seen } = yield* walk(grant, "heroku_apps_list", { max: 1 }).pipe(Effect.provide(harness(fake, grant)))
      expect(pages.map((p) => p.items.map((a) => a["name"]))).toEqual([["m-staging"], ["s-staging"]])
      expect(pages.map((p) => p.nextRange)).toEqual(["name ]m-staging..; max=1", undefined])
      for (const app of hidden) {
        expect(seen.includes(app["name"]), app["name"]).toBe(false)
        expect(seen.includes(app["id"]), app["id"]).toBe(false)
      }
      // A range the model writes itself starts anywhere, and still shows only granted apps.
      const probed = yield* execute(grant, "heroku_apps_list", { max: 1, range: "name ]n..; max=1" }).pipe(Effect.provide(harness(fake, grant)))
      expect(probed.value).toEqual({ items: [expect.objectContaining({ name: "s-staging" })] })
      const foreign = yield* execute(grant, "heroku_apps_list", { range: "id ]0..; max=1" }).pipe(Effect.provide(harness(fake, grant)))
      expect(foreign.value).toMatchObject({ error: { error: "InvalidRange" } })
      // Heroku was asked for full pages: one request per walk of 7 apps, whatever max the model gave.
      expect(fake.requests.filter((r) => r.path === "/apps").every((r) => r.range?.includes("max=1000"))).toBe(true)
    }))

  it.live("pipelines_list with max 1: granted pipelines only, page by page, no other pipeline's id or name", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      const ids = ["10000000", "20000000", "30000000", "40000000", "50000000"].map((p) => `${p}-0000-4000-8000-000000000000`)
      const names = ["zeta", "shop", "merger", "web", "billing"]
      ids.forEach((id, i) => fake.state.pipelines.set(id, { id, name: names[i], owner: null }))
      const grant = Grant.make({ access: { pipelines: "read" }, pipelines: ["shop", "web"] })
      const { pages, seen } = yield* walk(grant, "heroku_pipelines_list", { max: 1 }).pipe(Effect.provide(harness(fake, grant)))
      expect(pages.map((p) => p.items.map((x) => x["name"]))).toEqual([["shop"], ["web"]])
      expect(pages[0]!.nextRange).toBe(`id ]${ids[1]}..; max=1`)
      for (const i of [0, 2, 4]) {
        expect(seen.includes(ids[i]!), ids[i]).toBe(false)
        expect(seen.includes(names[i]!), names[i]).toBe(false)
      }
    }))
})

describe("2b. the granted-paging walk is bounded", () => {
  /** A client whose list never ends (a fresh Next-Range every page) and holds nothing the grant shows. */
  const endless = (repeat: boolean) => {
    let calls = 0
    const client = {
      page: () =>
        Effect.sync(() => {
          calls++
          return { items: [{ id: `x-${calls}`, name: `hidden-${calls}` }], nextRange: repeat ? "name ]hidden..; max=1000" : `name ]hidden-${calls}..; max=1000`, requestId: undefined }
        })
    } as unknown as HerokuClient.Service
    return { client, calls: () => calls }
  }

  it.effect("a list that never ends fails with HerokuPagingError after 50 pages; a repeating Next-Range after 2", () =>
    Effect.gen(function* () {
      const options = { path: "/apps", template: "/apps", field: "name", order: undefined, max: 1, range: undefined, keep: () => false }
      const forever = endless(false)
      const error = yield* Effect.flip(GrantedPages.page({ ...options, client: forever.client }))
      expect(error).toMatchObject({ _tag: "HerokuPagingError", reason: "more than 50 pages to walk for one page of granted items" })
      expect(forever.calls()).toBe(GrantedPages.MAX_WALK)
      const cycle = endless(true)
      expect(yield* Effect.flip(GrantedPages.page({ ...options, client: cycle.client }))).toMatchObject({ _tag: "HerokuPagingError", reason: "Next-Range repeats an earlier range" })
      expect(cycle.calls()).toBe(2)
    }))
})

describe("3. calls of tools the grant does not offer are audited", () => {
  it.live("through the loop, a Read agent calling config_vars_info and apps_delete gets UnknownTool, nothing is sent, and each call leaves a refusal", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("alpha")
      const grant = Grant.make({ agent: "reader", access: { apps: "read" } })
      const model = ScriptedModel.make([
        ScriptedModel.toolCall("heroku_config_vars_info", { app: "alpha" }),
        ScriptedModel.toolCall("heroku_apps_delete", { app: "alpha" }),
        ScriptedModel.toolCall("heroku_made_up_tool", { app: "alpha" }),
        ScriptedModel.text("done")
      ])
      const layer = AgentBackend.layerLocal(Agent.make({ name: "reader", toolkit: HerokuTools.toolkit(grant) })).pipe(
        Layer.provide(HerokuTools.layer(grant)),
        Layer.provideMerge(Layer.mergeAll(model.layer, Approval.layerAutoApprove, RunStore.layerMemory, AuditLog.layerMemory, clientLayer(fake)))
      )
      const audit = yield* Effect.gen(function* () {
        yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "look", runId: "run-7" }))
        return yield* entries
      }).pipe(Effect.provide(layer))
      expect(fake.requests).toEqual([])
      expect(audit.map((e) => [e.kind, e.runId, e.tool, e.decision, e.by, e.outcome])).toEqual([
        ["refusal", "run-7", "heroku_config_vars_info", "refused", "toolkit", "not_run"],
        ["refusal", "run-7", "heroku_apps_delete", "refused", "toolkit", "not_run"],
        ["refusal", "run-7", "heroku_made_up_tool", "refused", "toolkit", "not_run"]
      ])
      expect(audit[0]!.reason).toContain("not offered")
    }))

  it.effect("AuditLog.refuse writes a refusal entry for a call refused elsewhere (an MCP server's unknown tool or bad arguments)", () =>
    Effect.gen(function* () {
      const log = yield* AuditLog.AuditLog
      yield* log.refuse({
        runId: "mcp-session-1",
        tool: "heroku_apps_delete",
        toolCallId: "7",
        arguments: { app: "prod", vars: { SECRET: "hunter2-planted" } },
        by: "mcp-server",
        reason: "unknown tool"
      })
      const [entry] = yield* log.entries
      expect(entry).toMatchObject({ kind: "refusal", runId: "mcp-session-1", tool: "heroku_apps_delete", toolCallId: "7", app: "prod", decision: "refused", by: "mcp-server", reason: "unknown tool", outcome: "not_run" })
      expect(JSON.stringify(entry)).not.toContain("hunter2-planted")
      // The entry as a value, for a sink of one's own.
      expect(AuditLog.refusal({ runId: "r", tool: "t", toolCallId: "c", by: "b", reason: "why", decision: "denied" })).toMatchObject({ kind: "refusal", decision: "denied", arguments: {} })
    }).pipe(Effect.provide(AuditLog.layerMemory)))
})

describe("4. the audit names the canonical app when the grant has no app list", () => {
  it.live("the same app by name, by id and by upper-case id gives entries with one app name and one appId", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      const app = fake.addApp("alpha", { config: { LOG_LEVEL: "info" } })
      const id = String(app["id"])
      const grant = everything({ approvalFor: [] })
      const audit = yield* Effect.gen(function* () {
        for (const [tool, given] of [
          ["heroku_apps_info", "alpha"],
          ["heroku_apps_info", id],
          ["heroku_dynos_list", id.toUpperCase()],
          ["heroku_config_vars_info", "alpha"],
          ["heroku_dynos_restart_all", id]
        ] as const) {
          const execution = yield* execute(grant, tool, { app: given }, "oncall", `${tool}:${given}`)
          expect(execution.isError, execution.content).toBe(false)
        }
        return yield* entries
      }).pipe(Effect.provide(harness(fake, grant)))
      const outcomes = audit.filter((e) => e.kind === "outcome")
      expect(outcomes).toHaveLength(5)
      for (const entry of outcomes) expect(entry, entry.toolCallId).toMatchObject({ app: "alpha", appId: id, outcome: "success" })
      // Every intent is tied to its outcome by the tool call id.
      expect(audit.filter((e) => e.kind === "intent").map((e) => e.toolCallId)).toEqual(outcomes.map((e) => e.toolCallId))
    }))
})

describe("5. the tools that match Heroku's MCP server keep to the grant", () => {
  it.live("account-wide add-ons, add-on lookup, team apps, couplings, promotions: nothing of an app outside the grant is shown or touched", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addTeam("acme")
      const staging = fake.addApp("staging", { team: "acme" })
      const prod = fake.addApp("prod", { team: "acme" })
      const shop = { id: "44444444-4444-4444-8444-444444444444", name: "shop", owner: null }
      const other = { id: "55555555-5555-4555-8555-555555555555", name: "other-line", owner: null }
      fake.state.pipelines.set(shop.id, shop)
      fake.state.pipelines.set(other.id, other)
      const all = everything({ approvalFor: [] })
      const narrow = everything({ apps: ["staging"], pipelines: ["shop"], approvalFor: [] })
      // Set up with a grant for everything: an add-on on each app, both apps in the pipeline, a promotion elsewhere.
      const setup = yield* Effect.gen(function* () {
        const mine = (yield* execute(all, "heroku_addons_create", { app: "staging", plan: "heroku-redis:mini" }, "oncall")).value as { id: string; name: string }
        const theirs = (yield* execute(all, "heroku_addons_create", { app: "prod", plan: "heroku-postgresql:standard-0", name: "prod-db-secret" }, "oncall")).value as { id: string; name: string }
        yield* execute(all, "heroku_pipeline_couplings_create", { pipeline: "shop", app: "staging", stage: "staging" }, "oncall")
        yield* execute(all, "heroku_pipeline_couplings_create", { pipeline: "shop", app: "prod", stage: "production" }, "oncall")
        return { mine, theirs }
      }).pipe(Effect.provide(harness(fake, all)))
      fake.state.promotions.set("66666666-6666-4666-8666-666666666666", {
        id: "66666666-6666-4666-8666-666666666666",
        pipeline: { id: other.id },
        source: { app: { id: prod["id"] } },
        status: "completed"
      })
      const before = fake.requests.length
      const { outputs, promote, couple } = yield* Effect.gen(function* () {
        const outputs = {
          addons: (yield* execute(narrow, "heroku_addons_list_all", {})).value,
          mineByName: (yield* execute(narrow, "heroku_addons_lookup", { addon: setup.mine.name })).value,
          theirsByName: (yield* execute(narrow, "heroku_addons_lookup", { addon: setup.theirs.name })).value,
          theirsById: (yield* execute(narrow, "heroku_addons_lookup", { addon: setup.theirs.id })).value,
          missing: (yield* execute(narrow, "heroku_addons_lookup", { addon: "no-such-addon" })).value,
          teamApps: (yield* execute(narrow, "heroku_team_apps_list", { team: "acme" })).value,
          couplings: (yield* execute(narrow, "heroku_pipeline_couplings_list", { pipeline: "shop" })).value,
          otherPromotion: (yield* execute(narrow, "heroku_pipeline_promotions_info", { promotion: "66666666-6666-4666-8666-666666666666" })).value
        }
        const promote = yield* execute(narrow, "heroku_pipelines_promote", { pipeline: "shop", app: "staging", to: ["prod"] }, "oncall")
        const couple = yield* execute(narrow, "heroku_pipeline_couplings_create", { pipeline: "shop", app: "prod", stage: "staging" }, "oncall")
        return { outputs, promote, couple }
      }).pipe(Effect.provide(harness(fake, narrow)))
      expect(outputs.addons).toMatchObject({ items: [{ id: setup.mine.id }] })
      expect((outputs.addons as { items: ReadonlyArray<unknown> }).items).toHaveLength(1)
      expect(outputs.mineByName).toMatchObject({ id: setup.mine.id, app: { name: "staging" } })
      for (const denied of [outputs.theirsByName, outputs.theirsById, outputs.missing, outputs.otherPromotion]) {
        expect(denied).toMatchObject({ error: { error: "GrantDenied" } })
      }
      expect(outputs.teamApps).toEqual({ items: [expect.objectContaining({ name: "staging" })] })
      expect(outputs.couplings).toEqual({ items: [expect.objectContaining({ stage: "staging", app: { id: staging["id"] } })] })
      const seen = JSON.stringify(outputs)
      for (const secret of [prod["id"], "prod-db-secret", setup.theirs.id, other.id]) expect(seen.includes(secret), secret).toBe(false)
      // Promoting to an app outside the grant, or coupling one, is refused before anything is sent.
      expect(promote.value).toMatchObject({ error: { error: "GrantDenied", message: 'This agent\'s grant does not cover the app "prod".' } })
      expect(couple.value).toMatchObject({ error: { error: "GrantDenied" } })
      const sent = fake.requests.slice(before)
      expect(sent.filter((r) => r.method !== "GET")).toEqual([])
      expect(fake.state.releases.get(prod["id"])!.map((r) => r["description"])).not.toContain("Promote staging")
      // Creating a team app needs the grant's create option, like any app.
      expect(HerokuTools.toolkit(everything({ create: { apps: false } })).names).not.toContain("heroku_team_apps_create")
    }))
})
