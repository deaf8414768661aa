import { readFileSync } from "node:fs"
import { Agent, AgentBackend, Approval, RunStore } from "@agentloop/core"
import { AuditLog, Grant, HerokuTools, Operations } from "@agentloop/heroku-platform"
import * as Postgres from "@agentloop/heroku-platform/Postgres"
import { FakeHerokuInference, FakeHerokuPlatform, ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as HyperSchema from "./hyperSchema.js"
import { clientLayer, runTool } from "./support.js"

const everything = Grant.make({
  access: Object.fromEntries(Operations.groups.map((g) => [g, "full"])) as Record<Operations.Group, Grant.Access>,
  secrets: true,
  create: { apps: true, pipelines: true }
})

describe("the operation table", () => {
  it("covers the seed's 37 endpoints, with rollback as its own tool (38 tools), then 25 that match Heroku's MCP server, each with scope, risks and a description", () => {
    expect(Operations.operations).toHaveLength(38 + 25)
    const seed = Operations.operations.slice(0, 38)
    const perGroup = (ops: ReadonlyArray<Operations.Operation>) =>
      Object.fromEntries(Operations.groups.map((g) => [g, ops.filter((o) => o.group === g).length]).filter(([, n]) => n !== 0))
    expect(perGroup(seed)).toEqual({
      apps: 5,
      dynos: 5,
      formation: 3,
      config_vars: 2,
      releases: 4,
      builds: 3,
      addons: 4,
      domains: 3,
      collaborators: 3,
      pipelines: 3,
      logs: 1,
      account: 2
    })
    expect(perGroup(Operations.operations.slice(38))).toEqual({ apps: 5, dynos: 3, formation: 1, builds: 1, addons: 6, pipelines: 4, teams: 1, spaces: 2, ai: 2 })
    for (const op of Operations.operations) {
      expect(op.tool).toMatch(/^heroku_[a-z_]+$/)
      expect(op.description.length).toBeGreaterThan(20)
      expect(op.risks.length).toBeGreaterThan(0)
    }
    expect(Operations.byTool.get("heroku_config_vars_info")).toMatchObject({ scope: "read-protected", risks: ["read", "exposes_secrets"] })
    expect(Operations.byTool.get("heroku_config_vars_update")?.scope).toBe("write-protected")
    expect(Operations.byTool.get("heroku_account_info")?.scope).toBe("identity")
    expect(Operations.byTool.get("heroku_apps_delete")?.risks).toContain("destructive")
    expect(Operations.byTool.get("heroku_addons_create")?.risks).toContain("costs_money")
  })

  it("the risk table in docs/heroku-platform.md matches the operations", () => {
    const doc = readFileSync(new URL("../../../docs/heroku-platform.md", import.meta.url), "utf8")
    const rows = doc.split("\n").filter((line) => line.startsWith("| `heroku_") && !line.startsWith("| `heroku_pg_"))
    const defaults = Grant.make({})
    expect(rows).toEqual(
      Operations.operations.map((o) => {
        const risks = o.risks.filter((r) => r !== "read" && r !== "write")
        const approval = !Grant.needsApproval(defaults, o) ? "no" : o.risks.some((r) => Operations.alwaysGated.includes(r)) ? "always" : "by default"
        return `| \`${o.tool}\` | ${o.method} \`${o.template}\` | ${o.scope} | ${o.access} | ${risks.join(", ") || "–"} | ${approval} |`
      })
    )
  })

  it("the Postgres table in docs/heroku-platform.md matches Postgres.operations", () => {
    const doc = readFileSync(new URL("../../../docs/heroku-platform.md", import.meta.url), "utf8")
    const rows = doc.split("\n").filter((line) => line.startsWith("| `heroku_pg_"))
    const defaults = Grant.make({})
    expect(rows).toEqual(
      Postgres.operations.map((o) => {
        const risks = o.risks.filter((r) => r !== "read" && r !== "write")
        const always = o.approval === "always" || o.risks.some((r) => Operations.alwaysGated.includes(r))
        const approval = !Grant.needsApproval(defaults, o) ? "no" : always ? "always" : "by default"
        const servedBy = Postgres.via(o.tool) === "sql" ? "SQL" : `${o.method} \`${o.template}\``
        return `| \`${o.tool}\` | ${servedBy} | ${o.scope} | ${o.access} | ${risks.join(", ") || "–"} | ${approval} |`
      })
    )
  })

  it("the coverage table in docs/mcp.md matches the operations: every tool exists, with its group, risks and approval", () => {
    const doc = readFileSync(new URL("../../../docs/mcp.md", import.meta.url), "utf8")
    const section = doc.slice(doc.indexOf("## Coverage against Heroku's own MCP server"))
    const rows = section.split("\n").filter((line) => /^\| (`\w+`|\(.*\)) \| (full|partial|none|extra) \|/.test(line))
    expect(rows).toHaveLength(36 + 3)
    const defaults = Grant.make({})
    const counts: Record<string, number> = {}
    const covered = new Set<string>()
    for (const row of rows) {
      const [, coverage, tools, fake] = row.split(" | ").map((cell) => cell.trim())
      counts[coverage!] = (counts[coverage!] ?? 0) + 1
      const named = [...tools!.matchAll(/`(heroku_\w+)` \(([^;]+); ([^;]+); ([^)]+)\)/g)]
      expect(named.length > 0, row).toBe(coverage !== "none")
      expect(fake, row).toBe(coverage === "none" ? "–" : "yes")
      for (const [, tool, group, risks, approval] of named) {
        const o = Operations.byTool.get(tool!) ?? Postgres.byTool.get(tool!)
        expect(o, tool).toBeDefined()
        covered.add(tool!)
        const expected = !Grant.needsApproval(defaults, o!) ? "no approval" : o!.risks.some((r) => Operations.alwaysGated.includes(r)) ? "approval always" : "approval by default"
        expect([group, risks, approval], tool).toEqual([o!.group, [o!.access, ...o!.risks.filter((r) => r !== "read" && r !== "write")].join(", "), expected])
      }
    }
    expect(counts).toEqual({ full: 34, partial: 2, extra: 3 })
    // The page's summary line says what the rows say.
    const summary = /\*\*Coverage\*\*: (\d+) full, (\d+) partial, (\d+) none/.exec(section)
    expect(summary?.slice(1).map(Number)).toEqual([counts["full"], counts["partial"], counts["none"] ?? 0])
    // Every tool added to match Heroku's server appears in the table.
    for (const operation of [...Operations.operations.slice(38), ...Postgres.operations]) expect(covered.has(operation.tool), operation.tool).toBe(true)
  })

  it("scope coverage follows Heroku: global covers all, write includes read, protected scopes add config vars", () => {
    expect(Operations.scopeCovers(["global"], "write-protected")).toBe(true)
    expect(Operations.scopeCovers(["write"], "read")).toBe(true)
    expect(Operations.scopeCovers(["write"], "read-protected")).toBe(false)
    expect(Operations.scopeCovers(["read-protected"], "read")).toBe(true)
    expect(Operations.scopeCovers(["read"], "identity")).toBe(false)
  })
})

describe("grants", () => {
  it("deny by default: an empty grant offers no tools", () => {
    expect(HerokuTools.toolkit(Grant.none).names).toEqual([])
  })

  it("Read offers only the group's read tools; Full offers its writes too", () => {
    const names = HerokuTools.toolkit(Grant.make({ access: { apps: "read", dynos: "full" } })).names
    expect(names).toEqual([
      "heroku_apps_list",
      "heroku_apps_info",
      "heroku_dynos_list",
      "heroku_dynos_info",
      "heroku_dynos_run",
      "heroku_dynos_restart",
      "heroku_dynos_restart_all",
      "heroku_dynos_stop",
      "heroku_dynos_restart_type",
      "heroku_dynos_stop_type",
      "heroku_team_apps_list",
      "heroku_user_apps_list",
      "heroku_app_setups_info"
    ])
  })

  const gated = (grant: Grant.Grant) =>
    Object.values(HerokuTools.toolkit(grant).tools)
      .filter((t) => t.requiresApproval === true)
      .map((t) => t.name)

  it("by default every write, and every read that exposes secrets, needs approval", () => {
    const writes = Operations.operations.filter((o) => o.access === "write").map((o) => o.tool)
    expect(gated(everything)).toEqual(
      // Reads that expose secrets or cost money (an inference is metered) are gated too.
      Operations.operations.filter((o) => o.access === "write" || o.tool === "heroku_config_vars_info" || o.tool === "heroku_ai_inference").map((o) => o.tool)
    )
    expect(writes).toHaveLength(19 + 8)
  })

  it("operations that deploy code, change what runs, remove access or take an app offline stay gated even with approvalFor: []", () => {
    expect(gated({ ...everything, approvalFor: [] })).toEqual([
      "heroku_apps_update",
      "heroku_apps_delete",
      "heroku_dynos_run",
      "heroku_dynos_restart",
      "heroku_dynos_restart_all",
      "heroku_formation_update",
      "heroku_formation_batch_update",
      "heroku_config_vars_update",
      "heroku_releases_create",
      "heroku_releases_rollback",
      "heroku_builds_create",
      "heroku_addons_delete",
      "heroku_domains_delete",
      "heroku_collaborators_delete",
      "heroku_dynos_stop",
      "heroku_dynos_restart_type",
      "heroku_dynos_stop_type",
      "heroku_pipelines_promote",
      "heroku_builds_create_from_files",
      "heroku_app_setups_create"
    ])
    // Only naming the tool in autoApprove ungates it.
    expect(gated(Grant.make({ access: { dynos: "full" }, approvalFor: [], autoApprove: ["heroku_dynos_restart"] }))).toEqual([
      "heroku_dynos_run",
      "heroku_dynos_restart_all",
      "heroku_dynos_stop",
      "heroku_dynos_restart_type",
      "heroku_dynos_stop_type"
    ])
  })

  it.live("an app outside the grant's allow-list is denied after one lookup (to resolve it), and audited", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("prod-app")
      const grant = Grant.make({ access: { apps: "read" }, apps: ["staging-app"] })
      const { execution, audit } = yield* runTool(fake, grant, "heroku_apps_info", { app: "prod-app" })
      expect(execution).toMatchObject({ isError: true, errorKind: "ToolFailed" })
      expect(execution.content).toContain('"error":"GrantDenied"')
      expect(execution.content).toContain('does not cover the app \\"prod-app\\"')
      expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /apps/prod-app"])
      expect(audit).toMatchObject([{ kind: "refusal", tool: "heroku_apps_info", app: "prod-app", decision: "refused", by: "grant", outcome: "not_run" }])
    }))
})

describe("scopes, redaction and audit", () => {
  it.live("a token without the scope gets Heroku's 403, shown to the model", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make({ tokens: { "test-token": ["read"] } })
      fake.addApp("alpha", { config: { DATABASE_URL: "postgres://secret" } })
      const { execution, audit } = yield* runTool(fake, everything, "heroku_config_vars_info", { app: "alpha" }, { approvedBy: "oncall" })
      expect(execution.isError).toBe(true)
      expect(execution.value).toMatchObject({ error: { error: "HerokuForbidden", status: 403, id: "forbidden" } })
      expect(execution.content).not.toContain("postgres://secret")
      expect(audit.map((e) => e.kind)).toEqual(["intent", "outcome"])
      expect(audit[1]).toMatchObject({ decision: "approved", outcome: "error" })
      expect(audit[1]!.requestId).toMatch(/^[0-9a-f-]{36}$/)
    }))

  it.live("config-var values are redacted unless the grant allows secrets", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("alpha", { config: { DATABASE_URL: "postgres://user:pw@db", LOG_LEVEL: "info" } })
      const hidden = yield* runTool(fake, Grant.make({ access: { config_vars: "full" } }), "heroku_config_vars_info", { app: "alpha" }, { approvedBy: "oncall" })
      expect(hidden.execution.value).toEqual({ DATABASE_URL: "[REDACTED]", LOG_LEVEL: "[REDACTED]" })
      expect(hidden.execution.content).not.toContain("postgres://")
      const update = yield* runTool(fake, Grant.make({ access: { config_vars: "full" } }), "heroku_config_vars_update", {
        app: "alpha",
        vars: { LOG_LEVEL: "debug", NEW_SECRET: "s3cret" }
      }, { approvedBy: "oncall" })
      expect(update.execution.content).not.toContain("s3cret")
      expect(update.execution.value).toMatchObject({ NEW_SECRET: "[REDACTED]" })
      const shown = yield* runTool(fake, Grant.make({ access: { config_vars: "read" }, secrets: true }), "heroku_config_vars_info", { app: "alpha" }, { approvedBy: "oncall" })
      expect(shown.execution.value).toMatchObject({ DATABASE_URL: "postgres://user:pw@db", LOG_LEVEL: "debug", NEW_SECRET: "s3cret" })
    }))

  it.live("the audit log names the approver of an approved call", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("alpha")
      const { audit } = yield* runTool(fake, everything, "heroku_dynos_restart_all", { app: "alpha" }, { approvedBy: "oncall@example.com" })
      expect(audit).toMatchObject([
        { kind: "intent", runId: "run-test", agent: "agent", toolCallId: "call-heroku_dynos_restart_all", tool: "heroku_dynos_restart_all", app: "alpha", arguments: { app: "alpha" }, decision: "approved", by: "oncall@example.com", outcome: "pending" },
        { kind: "outcome", tool: "heroku_dynos_restart_all", app: "alpha", decision: "approved", by: "oncall@example.com", outcome: "success" }
      ])
    }))
})

describe("through the agent loop", () => {
  it.live("a destructive call denied by a human never reaches Heroku, and the audit log says who denied it", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("prod-app")
      const grant = Grant.make({ access: { apps: "full" } })
      const model = ScriptedModel.make([ScriptedModel.toolCall("heroku_apps_delete", { app: "prod-app" }), ScriptedModel.text("Not deleted.")])
      const layer = AgentBackend.layerLocal(Agent.make({ name: "ops", toolkit: HerokuTools.toolkit(grant) })).pipe(
        Layer.provide(HerokuTools.layer(grant)),
        Layer.provideMerge(
          Layer.mergeAll(model.layer, Approval.layerDenyAll("production apps are never deleted by agents"), RunStore.layerMemory, AuditLog.layerMemory, clientLayer(fake))
        )
      )
      const audit = yield* Effect.gen(function* () {
        const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "delete prod-app" }))
        expect(outcome._tag).toBe("Completed")
        return yield* Effect.flatMap(AuditLog.AuditLog, (log) => log.entries)
      }).pipe(Effect.provide(layer))
      expect(fake.requests).toHaveLength(0)
      expect(fake.state.apps.size).toBe(1)
      expect(audit).toMatchObject([
        { kind: "refusal", tool: "heroku_apps_delete", app: "prod-app", decision: "denied", by: "deny-all", reason: "production apps are never deleted by agents", outcome: "not_run" }
      ])
    }))
})

describe("every tool against the fake, over real HTTP", () => {
  it.live("every tool, each changing or reading the fake's state", () =>
    Effect.gen(function* () {
      const inference = yield* FakeHerokuInference.make({ key: "inf-key-planted-0123456789", chat: [ScriptedModel.text("Pong.")] })
      const fake = yield* FakeHerokuPlatform.make({ inference: { url: inference.url, key: inference.key } })
      fake.addApp("alpha", { config: { LOG_LEVEL: "info" } })
      fake.crash("alpha")
      const tested = new Set<string>()
      const call = (name: string, args: Record<string, unknown>) =>
        Effect.map(runTool(fake, everything, name, args, { approvedBy: "oncall@example.com", inferenceUrl: inference.url }), ({ execution }) => {
          tested.add(name)
          if (execution.isError) throw new Error(`${name} failed: ${execution.content}`)
          return execution.value as any
        })
      const appId = [...fake.state.apps.values()][0]!["id"]

      // Apps
      expect((yield* call("heroku_apps_list", {})).items.map((a: any) => a.name)).toEqual(["alpha"])
      expect(yield* call("heroku_apps_info", { app: "alpha" })).toMatchObject({ name: "alpha", region: { name: "us" } })
      expect(yield* call("heroku_apps_create", { name: "beta-app", region: "eu" })).toMatchObject({ name: "beta-app", region: { name: "eu" } })
      expect(yield* call("heroku_apps_update", { app: "beta-app", maintenance: true })).toMatchObject({ maintenance: true })
      expect(yield* call("heroku_apps_delete", { app: "beta-app" })).toMatchObject({ name: "beta-app" })
      expect([...fake.state.apps.values()].map((a) => a["name"])).toEqual(["alpha"])
      // Dynos
      const dynos = (yield* call("heroku_dynos_list", { app: "alpha" })).items
      expect(dynos).toMatchObject([{ name: "web.1", state: "crashed" }])
      expect(yield* call("heroku_dynos_info", { app: "alpha", dyno: "web.1" })).toMatchObject({ name: "web.1" })
      expect(yield* call("heroku_dynos_run", { app: "alpha", command: "npm run migrate" })).toMatchObject({ type: "run", command: "npm run migrate" })
      expect(yield* call("heroku_dynos_restart", { app: "alpha", dyno: "web.1" })).toEqual({ ok: true, detail: "restarted web.1 on alpha" })
      expect(fake.state.dynos.get(appId)!.find((d) => d["name"] === "web.1")!["state"]).toBe("up")
      expect(yield* call("heroku_dynos_restart_all", { app: "alpha" })).toMatchObject({ ok: true })
      // Formation
      expect((yield* call("heroku_formation_list", { app: "alpha" })).items).toMatchObject([{ type: "web", quantity: 1 }])
      expect(yield* call("heroku_formation_update", { app: "alpha", type: "web", quantity: 3, size: "Standard-1X" })).toMatchObject({
        quantity: 3,
        dyno_size: { name: "Standard-1X" }
      })
      expect(fake.state.dynos.get(appId)!.filter((d) => d["type"] === "web")).toHaveLength(3)
      expect(yield* call("heroku_formation_batch_update", { app: "alpha", updates: [{ type: "web", quantity: 2 }] })).toMatchObject([{ quantity: 2 }])
      // Config vars
      expect(yield* call("heroku_config_vars_info", { app: "alpha" })).toEqual({ LOG_LEVEL: "info" })
      expect(yield* call("heroku_config_vars_update", { app: "alpha", vars: { LOG_LEVEL: null, FEATURE: "on" } })).toEqual({ FEATURE: "on" })
      // Releases
      const releases = (yield* call("heroku_releases_list", { app: "alpha" })).items
      expect(releases[0].version).toBeGreaterThan(releases[releases.length - 1].version) // newest first
      expect(yield* call("heroku_releases_info", { app: "alpha", release: "1" })).toMatchObject({ version: 1 })
      const slug = fake.state.releases.get(appId)![0]!["slug"]["id"]
      const deployed = yield* call("heroku_releases_create", { app: "alpha", slug, description: "Deploy abc" })
      expect(deployed).toMatchObject({ description: "Deploy abc", current: true })
      const first = fake.state.releases.get(appId)![0]!
      expect(yield* call("heroku_releases_rollback", { app: "alpha", release: first["id"] })).toMatchObject({ description: "Rollback to v1" })
      // Builds
      const build = yield* call("heroku_builds_create", { app: "alpha", url: "https://example.com/src.tgz", version: "abc123" })
      expect(build).toMatchObject({ status: "succeeded", source_blob: { version: "abc123" } })
      expect((yield* call("heroku_builds_list", { app: "alpha" })).items).toHaveLength(1)
      expect(yield* call("heroku_builds_info", { app: "alpha", build: build.id })).toMatchObject({ id: build.id })
      // Add-ons
      const addon = yield* call("heroku_addons_create", { app: "alpha", plan: "heroku-postgresql:essential-0" })
      expect(addon).toMatchObject({ state: "provisioned", config_vars: ["DATABASE_URL"] })
      expect((yield* call("heroku_addons_list", { app: "alpha" })).items).toHaveLength(1)
      expect(yield* call("heroku_addons_info", { app: "alpha", addon: addon.name })).toMatchObject({ id: addon.id })
      expect(yield* call("heroku_addons_delete", { app: "alpha", addon: addon.name })).toMatchObject({ state: "deprovisioned" })
      // Domains
      expect(yield* call("heroku_domains_create", { app: "alpha", hostname: "www.example.com" })).toMatchObject({ cname: "www-example-com.herokudns.com" })
      expect((yield* call("heroku_domains_list", { app: "alpha" })).items).toHaveLength(1)
      expect(yield* call("heroku_domains_delete", { app: "alpha", domain: "www.example.com" })).toMatchObject({ hostname: "www.example.com" })
      // Collaborators
      expect(yield* call("heroku_collaborators_create", { app: "alpha", user: "dev@example.com", silent: true })).toMatchObject({ user: { email: "dev@example.com" } })
      expect((yield* call("heroku_collaborators_list", { app: "alpha" })).items).toHaveLength(1)
      expect(yield* call("heroku_collaborators_delete", { app: "alpha", collaborator: "dev@example.com" })).toMatchObject({ user: { email: "dev@example.com" } })
      // Pipelines
      const pipeline = yield* call("heroku_pipelines_create", { name: "shop" })
      expect((yield* call("heroku_pipelines_list", {})).items).toMatchObject([{ name: "shop" }])
      expect(yield* call("heroku_pipelines_info", { pipeline: "shop" })).toMatchObject({ id: pipeline.id })
      // Logs: the lines, never the session's bearer URL
      const logs = yield* call("heroku_logs_read", { app: "alpha", lines: 50 })
      expect(logs.lines).toContain('code=H10 desc="App crashed"')
      expect(JSON.stringify(logs)).not.toContain("logplex")
      const routerOnly = yield* call("heroku_logs_read", { app: "alpha", dyno: "router" })
      expect(routerOnly.lines.trim().split("\n").every((l: string) => l.includes("[router]"))).toBe(true)
      // Formation info, stops and restarts by process type
      expect(yield* call("heroku_formation_info", { app: "alpha", type: "web" })).toMatchObject({ type: "web", quantity: 2 })
      expect(yield* call("heroku_dynos_restart_type", { app: "alpha", type: "web" })).toEqual({ ok: true, detail: "restarted the web dynos of alpha" })
      expect(yield* call("heroku_dynos_stop", { app: "alpha", dyno: "web.1" })).toMatchObject({ ok: true })
      expect(fake.state.dynos.get(appId)!.map((d) => [d["name"], d["state"]])).toContainEqual(["web.1", "down"])
      expect(yield* call("heroku_dynos_stop_type", { app: "alpha", type: "web" })).toMatchObject({ ok: true })
      expect(fake.state.dynos.get(appId)!.filter((d) => d["type"] === "web").every((d) => d["state"] === "down")).toBe(true)
      // Teams, team apps, private spaces
      fake.addTeam("acme")
      fake.addSpace("acme-space", "acme")
      expect((yield* call("heroku_teams_list", {})).items).toMatchObject([{ name: "acme", role: "admin" }])
      expect(yield* call("heroku_team_apps_create", { team: "acme", name: "acme-api", space: "acme-space" })).toMatchObject({
        name: "acme-api",
        team: { name: "acme" },
        space: { name: "acme-space" }
      })
      expect((yield* call("heroku_team_apps_list", { team: "acme" })).items.map((a: any) => a.name)).toEqual(["acme-api"])
      expect((yield* call("heroku_spaces_list", {})).items).toMatchObject([{ name: "acme-space", state: "allocated" }])
      expect(yield* call("heroku_spaces_info", { space: "acme-space" })).toMatchObject({ team: { name: "acme" }, shield: false })
      // The add-on catalog, add-ons across apps, attachments
      expect((yield* call("heroku_addon_services_list", {})).items.map((x: any) => x.name)).toContain("heroku-postgresql")
      expect((yield* call("heroku_addon_plans_list", { service: "heroku-postgresql" })).items[0]).toMatchObject({ name: "heroku-postgresql:essential-0", price: { cents: 500 } })
      const db = yield* call("heroku_addons_create", { app: "alpha", plan: "heroku-postgresql:essential-0", as: "DATABASE" })
      expect((yield* call("heroku_addons_list_all", {})).items.map((x: any) => x.id)).toEqual([db.id])
      expect(yield* call("heroku_addons_lookup", { addon: db.name })).toMatchObject({ id: db.id, app: { name: "alpha" } })
      expect((yield* call("heroku_addon_attachments_list", { app: "alpha" })).items).toMatchObject([{ name: "DATABASE", addon: { id: db.id } }])
      expect(yield* call("heroku_addon_attachments_info", { app: "alpha", attachment: "DATABASE" })).toMatchObject({
        name: "DATABASE",
        addon: { id: db.id, plan: { name: "heroku-postgresql:essential-0" }, state: "provisioned" }
      })
      // Apps by owner and by space
      expect((yield* call("heroku_user_apps_list", {})).items.map((a: any) => a.name)).toEqual(["alpha"])
      expect((yield* call("heroku_apps_list", { space: "acme-space" })).items.map((a: any) => a.name)).toEqual(["acme-api"])
      expect((yield* call("heroku_team_apps_list", { team: "acme", space: "acme-space" })).items.map((a: any) => a.name)).toEqual(["acme-api"])
      // A team's pipeline with its first app (Heroku's pipelines_create)
      const teamLine = yield* call("heroku_pipelines_create", { name: "acme-line", team: "acme", app: "acme-api", stage: "staging" })
      expect(teamLine).toMatchObject({ name: "acme-line", owner: { type: "team", id: [...fake.state.teams.values()][0]!["id"] }, coupling: { stage: "staging" } })
      // Deploys from files: a build of an existing app, a new app set up by its app.json
      const files = [
        { path: "package.json", content: '{"name":"x"}' },
        { path: "src/index.js", content: "console.log('hi')" },
        { path: "bin/start", content: "#!/bin/sh\nnode src/index.js", executable: true }
      ]
      const fromFiles = yield* call("heroku_builds_create_from_files", { app: "alpha", files, version: "v2" })
      expect(fromFiles).toMatchObject({ status: "succeeded", source_blob: { version: "v2" } })
      expect(fake.sourceFiles(fromFiles.source_blob.url)).toEqual([
        { path: "package.json", content: '{"name":"x"}', mode: 0o644 },
        { path: "src/index.js", content: "console.log('hi')", mode: 0o644 },
        { path: "bin/start", content: "#!/bin/sh\nnode src/index.js", mode: 0o755 }
      ])
      const setup = yield* call("heroku_app_setups_create", {
        name: "gamma-app",
        team: "acme",
        env: { MODE: "demo" },
        files: [{ path: "app.json", content: '{"env":{"GREETING":{"value":"hello"}}}' }, ...files]
      })
      expect(setup).toMatchObject({ status: "succeeded", app: { name: "gamma-app" }, build: { status: "succeeded" } })
      expect(yield* call("heroku_app_setups_info", { setup: setup.id })).toMatchObject({ id: setup.id, status: "succeeded" })
      const gamma = [...fake.state.apps.values()].find((a) => a["name"] === "gamma-app")!
      expect(fake.state.configVars.get(gamma["id"])).toMatchObject({ GREETING: "hello", MODE: "demo" })
      // A one-off dyno with files staged in a fresh directory
      const staged = yield* call("heroku_dynos_run", { app: "alpha", command: "node job.js", files: [{ path: "lib/job.js", content: "console.log(1)" }] })
      expect(staged.command).toBe(`STAGE=$(mktemp -d) && cd "$STAGE" && mkdir -p 'lib' && printf '%s' 'console.log(1)' > 'lib/job.js' && { node job.js\n}; STATUS=$?; cd / && rm -rf "$STAGE"; exit $STATUS`)
      // Managed Inference: the catalog, a model provisioned on an app, an inference through it
      expect((yield* call("heroku_ai_models_list", {})).models.map((m: any) => m.model_id)).toContain("claude-4-5-sonnet")
      expect((yield* call("heroku_addon_plans_list", { service: "heroku-inference" })).items.map((p: any) => p.name)).toContain("heroku-inference:claude-4-5-sonnet")
      const model = yield* call("heroku_addons_create", { app: "alpha", plan: "heroku-inference:claude-4-5-sonnet" })
      expect(model.config_vars).toEqual(["INFERENCE_URL", "INFERENCE_KEY", "INFERENCE_MODEL_ID"])
      const answer = yield* call("heroku_ai_inference", { app: "alpha", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Ping?" }], max_tokens: 50 })
      expect(answer).toMatchObject({ resource: "INFERENCE", text: "Pong.", finishReason: "stop" })
      expect(inference.requests.at(-1)).toMatchObject({
        path: "/v1/chat/completions",
        body: { model: "claude-4-5-sonnet", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Ping?" }], max_tokens: 50, stream: false }
      })

      // Pipeline couplings and a promotion (staging to production)
      fake.addApp("alpha-staging")
      expect(yield* call("heroku_pipeline_couplings_create", { pipeline: "shop", app: "alpha-staging", stage: "staging" })).toMatchObject({ stage: "staging" })
      expect(yield* call("heroku_pipeline_couplings_create", { pipeline: pipeline.id, app: appId, stage: "production" })).toMatchObject({ app: { id: appId } })
      expect((yield* call("heroku_pipeline_couplings_list", { pipeline: "shop" })).items.map((c: any) => c.stage).sort()).toEqual(["production", "staging"])
      const promotion = yield* call("heroku_pipelines_promote", { pipeline: "shop", app: "alpha-staging", to: ["alpha"] })
      expect(promotion).toMatchObject({ status: "completed", pipeline: { id: pipeline.id } })
      expect(yield* call("heroku_pipeline_promotions_info", { promotion: promotion.id })).toMatchObject({ id: promotion.id, status: "completed" })
      expect(fake.state.releases.get(appId)!.at(-1)).toMatchObject({ description: "Promote alpha-staging", current: true })
      // Account & limits
      expect(yield* call("heroku_account_info", {})).toMatchObject({ email: "owner@example.com" })
      expect((yield* call("heroku_rate_limits_info", {})).remaining).toBeGreaterThan(4000)

      expect([...tested].sort()).toEqual(Operations.operations.map((o) => o.tool).sort())
      // The whole conversation against Heroku's current hyper-schema: each request's link, each body (strictly),
      // each answer of the fake.
      expect(HyperSchema.conformance(HyperSchema.load(), fake.requests)).toEqual([])
    }))

  it.live("list tools page with max and continue with nextRange", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      for (let i = 0; i < 5; i++) fake.addApp(`app-${i}`)
      const first = yield* runTool(fake, everything, "heroku_apps_list", { max: 2 })
      const page1 = first.execution.value as { items: Array<{ name: string }>; nextRange: string }
      expect(page1.items.map((a) => a.name)).toEqual(["app-0", "app-1"])
      const second = yield* runTool(fake, everything, "heroku_apps_list", { max: 2, range: page1.nextRange })
      expect((second.execution.value as typeof page1).items.map((a) => a.name)).toEqual(["app-2", "app-3"])
    }))

  it.live("Heroku's 422 message reaches the model", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      const { execution } = yield* runTool(fake, everything, "heroku_pipelines_info", { pipeline: "nope" })
      expect(execution.value).toMatchObject({ error: { error: "HerokuNotFound", status: 404, message: "Couldn't find that pipeline." } })
    }))
})
