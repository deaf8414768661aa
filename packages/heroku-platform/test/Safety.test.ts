/**
 * The tool set's safety guarantees, tried the way an attacker (or a confused model) would: path confusion,
 * handlers called without approval, grant bypasses by name, id, case and encoding, planted secrets on every
 * output path, and an audit log that must survive interruption and fail closed.
 */
import { Agent, AgentBackend, Approval, RunStore } from "@agentloop/core"
import { AuditLog, Grant, HerokuClient, HerokuTools, Operations, TwoFactor } from "@agentloop/heroku-platform"
import { FakeHerokuPlatform, ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger, Option, Redacted } from "effect"
import { clientLayer, execute, validArguments } from "./support.js"

const full = (groups: ReadonlyArray<Operations.Group>, extra: Parameters<typeof Grant.make>[0] = {}) =>
  Grant.make({ agent: "ops-bot", access: Object.fromEntries(groups.map((g) => [g, "full"])), ...extra })

/** Handlers + audit + client over the fake; returns the execute function and the audit entries. */
const harness = <E = never>(fake: FakeHerokuPlatform.FakeHeroku, grant: Grant.Grant, audit: Layer.Layer<AuditLog.AuditLog, E> = AuditLog.layerMemory) =>
  HerokuTools.layer(grant).pipe(Layer.provideMerge(Layer.merge(clientLayer(fake), audit)))

const entries = Effect.flatMap(AuditLog.AuditLog, (log) => log.entries)

describe("1. path parameters", () => {
  const idTools = Operations.operations.filter((o) => /\{(?!app\})\w+\}/.test(o.template))

  it.live("'..', '.', '', encoded dots and slashes are rejected by Schema for every path parameter, before any request", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("alpha")
      const grant = Grant.make({ access: Object.fromEntries(Operations.groups.map((g) => [g, "full"])), create: { apps: true, pipelines: true } })
      expect(idTools.map((o) => o.tool)).toEqual([
        "heroku_dynos_info",
        "heroku_dynos_restart",
        "heroku_formation_update",
        "heroku_releases_info",
        "heroku_builds_info",
        "heroku_addons_info",
        "heroku_addons_delete",
        "heroku_domains_delete",
        "heroku_collaborators_delete",
        "heroku_pipelines_info",
        "heroku_dynos_stop",
        "heroku_dynos_restart_type",
        "heroku_dynos_stop_type",
        "heroku_formation_info",
        "heroku_team_apps_list",
        "heroku_spaces_info",
        "heroku_addon_plans_list",
        "heroku_addons_lookup",
        "heroku_addon_attachments_info",
        "heroku_pipeline_couplings_list",
        "heroku_pipeline_promotions_info",
        "heroku_app_setups_info"
      ])
      const bad = ["..", ".", "", "%2e%2e", "%2E%2E", "a/b", "..%2f", " ", "web.1/../..", "x?y"]
      yield* Effect.gen(function* () {
        for (const operation of idTools) {
          const param = /\{(?!app\})(\w+)\}/.exec(operation.template)![1]!
          for (const value of bad) {
            const execution = yield* execute(grant, operation.tool, { app: "alpha", type: "web", [param]: value }, "oncall")
            expect(execution, `${operation.tool} ${param}=${JSON.stringify(value)}`).toMatchObject({ isError: true, errorKind: "InvalidArguments" })
            expect(execution.content).toContain(param)
          }
        }
        // A continuation range cannot smuggle a header.
        expect((yield* execute(grant, "heroku_apps_list", { range: "id ..\r\nX-Evil: 1" })).errorKind).toBe("InvalidArguments")
        for (const value of [...bad, "Alpha", "ALPHA", "alpha%2F..", "-alpha"]) {
          const execution = yield* execute(grant, "heroku_apps_delete", { app: value }, "oncall")
          expect(execution.errorKind, value).toBe("InvalidArguments")
        }
      }).pipe(Effect.provide(harness(fake, grant)))
      expect(fake.requests).toEqual([])
      expect(fake.state.apps.size).toBe(1)
    }))

  it.live("the client refuses a path that does not fill its template segment for segment (HerokuInvalidPath), before sending", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("alpha")
      const client = yield* Effect.provide(HerokuClient.HerokuClient, clientLayer(fake))
      const refused = (path: string, template?: string) =>
        Effect.flip(client.request({ method: "DELETE", path, ...(template === undefined ? {} : { template }) }))
      for (const path of ["/apps/alpha/dynos/..", "/apps/alpha/dynos/.", "/apps/alpha/dynos/", "/apps/alpha/dynos/%2e%2E", "/apps/alpha/dynos/a%2Fb", "/apps//dynos"]) {
        expect(yield* refused(path), path).toMatchObject({ _tag: "HerokuInvalidPath", path })
      }
      expect(yield* refused("/apps/alpha", "/apps/{app}/dynos/{dyno}")).toMatchObject({ _tag: "HerokuInvalidPath", reason: "the path does not match /apps/{app}/dynos/{dyno}" })
      expect(yield* refused("/apps/alpha/addons/x", "/apps/{app}/dynos/{dyno}")).toMatchObject({ _tag: "HerokuInvalidPath" })
      expect(HerokuClient.pathProblem("/apps/alpha/dynos/web.1", "/apps/{app}/dynos/{dyno}")).toBeUndefined()
      expect(fake.requests).toEqual([])
    }))
})

describe("2. handlers check approvals themselves", () => {
  it.live("every gated handler called without an approval refuses, audits the refusal, and sends nothing", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      const app = fake.addApp("alpha")
      const grant = Grant.make({ agent: "ops-bot", access: Object.fromEntries(Operations.groups.map((g) => [g, "full"])), create: { apps: true, pipelines: true } })
      const gated = Operations.operations.filter((o) => Grant.needsApproval(grant, o))
      const args: Record<string, Record<string, unknown>> = {
        heroku_apps_create: { name: "beta-app" },
        heroku_dynos_run: { app: "alpha", command: "rm -rf /" },
        heroku_dynos_restart: { app: "alpha", dyno: "web.1" },
        heroku_formation_update: { app: "alpha", type: "web", quantity: 0 },
        heroku_formation_batch_update: { app: "alpha", updates: [{ type: "web", quantity: 0 }] },
        heroku_config_vars_update: { app: "alpha", vars: { X: "1" } },
        heroku_releases_create: { app: "alpha", slug: app["id"] },
        heroku_releases_rollback: { app: "alpha", release: app["id"] },
        heroku_builds_create: { app: "alpha", url: "https://example.com/x.tgz" },
        heroku_addons_create: { app: "alpha", plan: "heroku-postgresql:essential-0" },
        heroku_addons_delete: { app: "alpha", addon: "db" },
        heroku_domains_create: { app: "alpha", hostname: "www.example.com" },
        heroku_domains_delete: { app: "alpha", domain: "www.example.com" },
        heroku_collaborators_create: { app: "alpha", user: "x@example.com" },
        heroku_collaborators_delete: { app: "alpha", collaborator: "x@example.com" },
        heroku_pipelines_create: { name: "shop" }
      }
      const audit = yield* Effect.gen(function* () {
        for (const operation of gated) {
          const execution = yield* execute(grant, operation.tool, args[operation.tool] ?? validArguments[operation.tool] ?? { app: "alpha" })
          expect(execution.isError, operation.tool).toBe(true)
          expect(execution.value).toMatchObject({ error: { error: "ApprovalRequired" } })
        }
        return yield* entries
      }).pipe(Effect.provide(harness(fake, grant)))
      expect(fake.requests).toEqual([])
      expect(audit.map((e) => [e.tool, e.kind, e.decision, e.by, e.outcome, e.agent])).toEqual(
        gated.map((o) => [o.tool, "refusal", "refused", "handler", "not_run", "ops-bot"])
      )
      expect(gated.map((o) => o.tool)).toContain("heroku_apps_delete")
      // + builds from files, app setups, an inference (costs money)
      expect(gated).toHaveLength(20 + 6 + 3)
    }))

  it.live("a tool the grant auto-approves by name runs without a human, and the audit says auto_approved", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("alpha")
      const grant = full(["dynos"], { autoApprove: ["heroku_dynos_restart_all"] })
      const audit = yield* Effect.gen(function* () {
        expect((yield* execute(grant, "heroku_dynos_restart_all", { app: "alpha" })).isError).toBe(false)
        expect((yield* execute(grant, "heroku_dynos_restart", { app: "alpha", dyno: "web.1" })).value).toMatchObject({ error: { error: "ApprovalRequired" } })
        return yield* entries
      }).pipe(Effect.provide(harness(fake, grant)))
      expect(audit.map((e) => [e.tool, e.kind, e.decision])).toEqual([
        ["heroku_dynos_restart_all", "intent", "auto_approved"],
        ["heroku_dynos_restart_all", "outcome", "auto_approved"],
        ["heroku_dynos_restart", "refusal", "refused"]
      ])
    }))
})

describe("3. grants that mean what they say", () => {
  it.live("an app granted by name is the same app by id (any case); other apps stay out by name, id, case and encoding", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      const staging = fake.addApp("staging-app")
      const prod = fake.addApp("prod-app")
      const grant = full(["apps", "config_vars"], { approvalFor: [] })
      const byName = { ...grant, apps: ["staging-app"] }
      const byId = { ...grant, apps: [String(staging["id"]).toUpperCase()].map((s) => s.toLowerCase()) }
      for (const g of [byName, byId]) {
        yield* Effect.gen(function* () {
          for (const identity of ["staging-app", staging["id"], String(staging["id"]).toUpperCase()]) {
            const execution = yield* execute(g, "heroku_apps_info", { app: identity })
            expect(execution.isError, identity).toBe(false)
            expect(execution.value).toMatchObject({ name: "staging-app" })
          }
          for (const identity of ["prod-app", prod["id"], String(prod["id"]).toUpperCase()]) {
            const execution = yield* execute(g, "heroku_config_vars_info", { app: identity })
            expect(execution.value, identity).toMatchObject({ error: { error: "GrantDenied" } })
          }
          for (const identity of ["PROD-APP", "Prod-App", "prod%2Dapp", "prod-app%00", encodeURIComponent(String(prod["id"])) + "%20"]) {
            expect((yield* execute(g, "heroku_config_vars_info", { app: identity })).errorKind, identity).toBe("InvalidArguments")
          }
        }).pipe(Effect.provide(harness(fake, g)))
      }
      expect(fake.requests.filter((r) => r.path.includes(String(prod["id"])) || r.path.includes("prod-app")).every((r) => r.method === "GET" && !r.path.endsWith("config-vars"))).toBe(true)
    }))

  it.live("a rename keeps the grant: the app is granted by its id once resolved", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("staging-app")
      const grant = full(["apps"], { apps: ["staging-app"] })
      yield* Effect.gen(function* () {
        expect((yield* execute(grant, "heroku_apps_update", { app: "staging-app", name: "staging-two" }, "oncall")).value).toMatchObject({ name: "staging-two" })
        expect((yield* execute(grant, "heroku_apps_info", { app: "staging-two" })).value).toMatchObject({ name: "staging-two" })
        // Renamed outside this agent (the CLI): the id still resolves and is still granted.
        const app = [...fake.state.apps.values()][0]!
        app["name"] = "staging-three"
        expect((yield* execute(grant, "heroku_apps_info", { app: app["id"] })).value).toMatchObject({ name: "staging-three" })
        expect((yield* execute(grant, "heroku_apps_info", { app: "staging-three" })).value).toMatchObject({ name: "staging-three" })
      }).pipe(Effect.provide(harness(fake, grant)))
    }))

  it.live("lists show only granted apps and pipelines; creating needs the grant's create option", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("staging-app")
      fake.addApp("prod-app")
      fake.state.pipelines.set("p1", { id: "11111111-1111-4111-8111-111111111111", name: "shop", owner: null })
      fake.state.pipelines.set("p2", { id: "22222222-2222-4222-8222-222222222222", name: "billing", owner: null })
      const restricted = full(["apps", "pipelines"], { apps: ["staging-app"], pipelines: ["shop"], approvalFor: [] })
      expect(HerokuTools.toolkit(restricted).names).not.toContain("heroku_apps_create")
      expect(HerokuTools.toolkit(restricted).names).not.toContain("heroku_pipelines_create")
      yield* Effect.gen(function* () {
        expect((yield* execute(restricted, "heroku_apps_list", {})).value).toMatchObject({ items: [{ name: "staging-app" }] })
        expect(((yield* execute(restricted, "heroku_apps_list", {})).value as any).items).toHaveLength(1)
        expect(((yield* execute(restricted, "heroku_pipelines_list", {})).value as any).items.map((p: any) => p.name)).toEqual(["shop"])
        expect((yield* execute(restricted, "heroku_pipelines_info", { pipeline: "billing" })).value).toMatchObject({ error: { error: "GrantDenied" } })
        expect((yield* execute(restricted, "heroku_pipelines_info", { pipeline: "22222222-2222-4222-8222-222222222222" })).value).toMatchObject({ error: { error: "GrantDenied" } })
        // The handler refuses a create even if called directly (the toolkit never offered it).
        expect((yield* execute(restricted, "heroku_apps_create", { name: "sneaky-app" })).errorKind).toBe("UnknownTool")
      }).pipe(Effect.provide(harness(fake, restricted)))
      const creator = { ...restricted, create: { apps: true, pipelines: false } }
      yield* Effect.gen(function* () {
        expect((yield* execute(creator, "heroku_apps_create", { name: "new-app" }, "oncall")).value).toMatchObject({ name: "new-app" })
        // What it created is now inside its grant.
        expect((yield* execute(creator, "heroku_apps_info", { app: "new-app" })).value).toMatchObject({ name: "new-app" })
        expect(((yield* execute(creator, "heroku_apps_list", {})).value as any).items.map((a: any) => a.name).sort()).toEqual(["new-app", "staging-app"])
      }).pipe(Effect.provide(harness(fake, creator)))
      expect([...fake.state.apps.values()].map((a) => a["name"])).toEqual(["staging-app", "prod-app", "new-app"])
    }))

  it.live("two layers with two grants keep their own state: one agent's resolved apps never widen the other's grant", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("staging-app", { config: { DATABASE_URL: "postgres://u:stagingpw@db/s" } })
      fake.addApp("prod-app", { config: { DATABASE_URL: "postgres://u:prodpw@db/p" } })
      const staging = full(["config_vars"], { apps: ["staging-app"], approvalFor: [] })
      const prod = full(["config_vars"], { apps: ["prod-app"], approvalFor: [], secrets: true })
      const client = clientLayer(fake)
      const run = (grant: Grant.Grant, app: string) =>
        execute(grant, "heroku_config_vars_info", { app }).pipe(Effect.provide(HerokuTools.layer(grant).pipe(Layer.provide(Layer.merge(client, AuditLog.layerMemory)))))
      expect((yield* run(prod, "prod-app")).value).toEqual({ DATABASE_URL: "postgres://u:prodpw@db/p" })
      const leak = yield* run(staging, "prod-app")
      expect(leak.value).toMatchObject({ error: { error: "GrantDenied" } })
      expect(leak.content).not.toContain("prodpw")
      expect((yield* run(staging, "staging-app")).value).toEqual({ DATABASE_URL: "[REDACTED]" })
    }))
})

describe("4. redaction: planted secrets never reach the model, the audit, errors or logs", () => {
  const PLANTED_URL = "postgres://admin:PLANTED-pw-9921@db.internal:5432/main"
  const PLANTED_RAW = "PLANTED-raw-7731xyz"
  const PLANTED_ARG = "PLANTED-arg-4410"

  it.live("error messages, non-JSON bodies, decode errors, log lines, the log-session URL and arguments are scrubbed", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      const app = fake.addApp("alpha", { config: { DATABASE_URL: PLANTED_URL, API_TOKEN: PLANTED_RAW } })
      const grant = full(["apps", "dynos", "config_vars", "logs"], { approvalFor: [] })
      const logged: Array<string> = []
      const logger = Logger.layer([Logger.make(({ message }) => void logged.push(JSON.stringify(message)))])
      const outputs: Array<unknown> = []
      const run = (name: string, args: Record<string, unknown>) =>
        Effect.tap(execute(grant, name, args, "oncall"), (execution) => Effect.sync(() => outputs.push(execution.content, execution.value)))
      const audit = yield* Effect.gen(function* () {
        // Heroku's own error message echoes the values.
        fake.inject({ status: 422, path: /dynos\/web\.1$/, body: { id: "invalid_params", message: `bad ${PLANTED_RAW} from ${PLANTED_URL}` } })
        expect((yield* run("heroku_dynos_restart", { app: "alpha", dyno: "web.1" })).value).toMatchObject({ error: { error: "HerokuInvalidParams" } })
        // A proxy's HTML page that echoes the request.
        fake.inject({ status: 502, times: 4, path: /dynos$/, method: "GET", raw: `<html>upstream said ${PLANTED_RAW} ${PLANTED_URL}</html>` })
        expect((yield* run("heroku_dynos_list", { app: "alpha" })).value).toMatchObject({ error: { error: "HerokuApiError", status: 502 } })
        // A 2xx body that does not decode, with the values in the wrong places.
        fake.inject({ status: 200, path: /^\/apps\/alpha$/, body: { id: 42, name: { secret: PLANTED_RAW }, web_url: PLANTED_URL } })
        expect((yield* run("heroku_apps_info", { app: "alpha" })).value).toMatchObject({ error: { error: "HerokuInvalidResponse" } })
        // Log lines that print config values, and a log session whose fetch fails.
        fake.state.logs.get(app["id"])!.push(`2024 app[web.1]: connecting to ${PLANTED_URL} with token ${PLANTED_RAW}`)
        const logs = yield* run("heroku_logs_read", { app: "alpha" })
        expect((logs.value as any).lines).toContain("connecting to [REDACTED] with token [REDACTED]")
        fake.inject({ path: /^\/logplex\//, status: 500, times: 4, raw: "boom" })
        expect((yield* run("heroku_logs_read", { app: "alpha" })).isError).toBe(true)
        fake.inject({ path: /^\/logplex\//, drop: true, times: 4 })
        expect((yield* run("heroku_logs_read", { app: "alpha" })).isError).toBe(true)
        // Arguments: the values the model sets.
        yield* run("heroku_config_vars_update", { app: "alpha", vars: { NEW_KEY: PLANTED_ARG } })
        yield* run("heroku_dynos_run", { app: "alpha", command: `echo ${PLANTED_URL}`, env: { TOKEN: PLANTED_ARG } })
        // A failing call's error after the values became known.
        fake.inject({ status: 404, path: /dynos\/web\.2$/, body: { id: "not_found", message: `no dyno; env was ${PLANTED_ARG}` } })
        yield* run("heroku_dynos_info", { app: "alpha", dyno: "web.2" })
        yield* Effect.logError(`an operator log line about ${PLANTED_URL}`).pipe(Effect.andThen(Effect.void))
        return yield* entries
      }).pipe(Effect.provide(harness(fake, grant)), Effect.provide(logger))
      // The test logger is the one in use (Effect 4's Logger.layer replaces the loggers): it saw the operator's line.
      expect(logged.some((l) => l.includes("an operator log line"))).toBe(true)
      const everything = JSON.stringify({ outputs, audit, logged: logged.filter((l) => !l.includes("an operator log line")) })
      for (const secret of [PLANTED_URL, "PLANTED-pw-9921", PLANTED_RAW, PLANTED_ARG, "srv="]) {
        expect(everything.includes(secret), secret).toBe(false)
      }
      expect(everything).toContain("[REDACTED]")
      expect(audit.filter((e) => e.kind === "outcome").length).toBeGreaterThanOrEqual(8)
      expect(fake.requests.some((r) => r.path.startsWith("/logplex/"))).toBe(true)
    }))

  it("secret-shaped strings are scrubbed without knowing them", async () => {
    const { Redaction } = await import("@agentloop/heroku-platform")
    const text = Redaction.text(
      "redis://:pw123456@h:6379 https://user:pass@example.com/x?srv=abc123&x=1 Authorization: Bearer abcdefgh12345 HRKU-abcdefgh1234 sk_live_abcdefgh1234 password=hunter22"
    )
    expect(text).toBe(
      "redis://[REDACTED]@h:6379 https://[REDACTED]@example.com/x?srv=[REDACTED]&x=1 Authorization: Bearer [REDACTED] [REDACTED] [REDACTED] password=[REDACTED]"
    )
    expect(Redaction.text("level info here", Redaction.known(["info"]))).toBe("level info here")
    expect(Redaction.text("a s3cr3t-value b s3cr3t%2Dvalue", Redaction.known(["s3cr3t-value"]))).toBe("a [REDACTED] b s3cr3t%2Dvalue")
  })
})

describe("5. an audit log that survives", () => {
  it.live("intent before the request, outcome after: run, agent, tool call, redacted arguments, canonical app, approver", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      const app = fake.addApp("alpha")
      const seenAtIntent: Array<number> = []
      const sink: AuditLog.Sink = (entry) => Effect.sync(() => void (entry.kind === "intent" && seenAtIntent.push(fake.requests.filter((r) => r.method === "DELETE").length)))
      const grant = full(["apps"], { apps: [app["id"]] })
      const audit = yield* Effect.gen(function* () {
        yield* execute(grant, "heroku_apps_delete", { app: "alpha" }, "oncall@example.com")
        return yield* entries
      }).pipe(Effect.provide(harness(fake, grant, AuditLog.layer(sink))))
      expect(seenAtIntent).toEqual([0])
      expect(audit).toMatchObject([
        { kind: "intent", runId: "run-test", agent: "ops-bot", toolCallId: "call-heroku_apps_delete", app: "alpha", appId: app["id"], arguments: { app: "alpha" }, decision: "approved", by: "oncall@example.com", outcome: "pending" },
        { kind: "outcome", runId: "run-test", agent: "ops-bot", app: "alpha", appId: app["id"], decision: "approved", outcome: "success" }
      ])
      expect(audit[1]!.requestId).toMatch(/^[0-9a-f-]{36}$/)
    }))

  it.live("a failing sink stops a destructive call before it reaches the API", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("alpha")
      const grant = full(["apps", "dynos"])
      const broken = AuditLog.layer(() => Effect.fail(new AuditLog.AuditWriteFailed({ sink: "test", reason: "disk full" })))
      const executions = yield* Effect.gen(function* () {
        return [
          yield* execute(grant, "heroku_apps_delete", { app: "alpha" }, "oncall"),
          yield* execute(grant, "heroku_dynos_restart_all", { app: "alpha" }, "oncall")
        ]
      }).pipe(Effect.provide(harness(fake, grant, broken)))
      for (const execution of executions) {
        expect(execution.value).toMatchObject({ error: { error: "AuditUnavailable", message: "Not run: The audit log (test) could not record the entry: disk full" } })
      }
      expect(fake.requests).toEqual([])
      expect(fake.state.apps.size).toBe(1)
    }))

  it.live("the JSONL sink fails closed too (a write to /dev/full): nothing is sent", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("alpha")
      const grant = full(["apps"])
      const execution = yield* execute(grant, "heroku_apps_delete", { app: "alpha" }, "oncall").pipe(Effect.provide(harness(fake, grant, AuditLog.layerJsonl("/dev/full"))))
      expect(execution.value).toMatchObject({ error: { error: "AuditUnavailable" } })
      expect(execution.content).toContain("ENOSPC")
      expect(fake.requests).toEqual([])
    }))

  it.live("an interrupted destructive call leaves its intent and an interrupted outcome", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("alpha")
      fake.inject({ method: "DELETE", delayMs: 300 })
      const grant = full(["apps"])
      const audit = yield* Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(execute(grant, "heroku_apps_delete", { app: "alpha" }, "oncall"))
        // Wait until the intent is recorded, then give the request time to leave.
        while ((yield* entries).length === 0) yield* Effect.sleep("5 millis")
        yield* Effect.sleep("50 millis")
        yield* Fiber.interrupt(fiber)
        return yield* entries
      }).pipe(Effect.provide(harness(fake, grant)))
      expect(audit.map((e) => [e.kind, e.outcome])).toEqual([
        ["intent", "pending"],
        ["outcome", "interrupted"]
      ])
      expect(audit[1]).toMatchObject({ tool: "heroku_apps_delete", app: "alpha", agent: "ops-bot", by: "oncall" })
    }))

  it.live("through the loop: invalid arguments and human denials are audited, with the run id", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("alpha")
      const grant = full(["dynos"])
      const model = ScriptedModel.make([
        ScriptedModel.toolCall("heroku_dynos_restart", { app: "alpha", dyno: ".." }),
        ScriptedModel.toolCall("heroku_dynos_restart_all", { app: "alpha" }),
        ScriptedModel.text("done")
      ])
      const layer = AgentBackend.layerLocal(Agent.make({ name: "ops", toolkit: HerokuTools.toolkit(grant) })).pipe(
        Layer.provide(HerokuTools.layer(grant)),
        Layer.provideMerge(Layer.mergeAll(model.layer, Approval.layerDenyAll("not now"), RunStore.layerMemory, AuditLog.layerMemory, clientLayer(fake)))
      )
      const audit = yield* Effect.gen(function* () {
        yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "restart", runId: "run-42" }))
        yield* Effect.sleep("20 millis")
        return yield* entries
      }).pipe(Effect.provide(layer))
      expect(audit).toMatchObject([
        { kind: "refusal", runId: "run-42", tool: "heroku_dynos_restart", app: "alpha", arguments: { app: "alpha", dyno: ".." }, decision: "refused", by: "schema", reason: "the arguments do not match the tool's Schema", outcome: "not_run" },
        { kind: "refusal", runId: "run-42", tool: "heroku_dynos_restart_all", decision: "denied", by: "deny-all", reason: "not now", outcome: "not_run" }
      ])
      expect(fake.requests).toEqual([])
    }))

  it.live("the JSONL sink appends one fsynced line per entry, readable back", () =>
    Effect.gen(function* () {
      const { mkdtemp, readFile } = yield* Effect.promise(() => import("node:fs/promises"))
      const dir = yield* Effect.promise(() => mkdtemp("/tmp/heroku-audit-"))
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("alpha")
      const grant = full(["apps"])
      for (const round of [1, 2]) {
        yield* execute(grant, "heroku_apps_info", { app: "alpha" }, undefined, `call-${round}`).pipe(Effect.provide(harness(fake, grant, AuditLog.layerJsonl(`${dir}/audit.jsonl`))))
      }
      const lines = AuditLog.readJsonl(yield* Effect.promise(() => readFile(`${dir}/audit.jsonl`, "utf8")))
      expect(lines.map((e) => [e.toolCallId, e.kind, e.outcome])).toEqual([
        ["call-1", "intent", "pending"],
        ["call-1", "outcome", "success"],
        ["call-2", "intent", "pending"],
        ["call-2", "outcome", "success"]
      ])
    }))

  it.live("the SQL sink (effect/sql, SQLite) writes a row per entry", () =>
    Effect.gen(function* () {
      const { SqliteClient } = yield* Effect.promise(() => import("@effect/sql-sqlite-node"))
      const { SqlClient } = yield* Effect.promise(() => import("effect/sql"))
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("alpha")
      const grant = full(["dynos"])
      const sqlite = SqliteClient.layer({ filename: ":memory:" })
      const rows = yield* Effect.gen(function* () {
        yield* execute(grant, "heroku_dynos_restart_all", { app: "alpha" }, "oncall")
        const sql = yield* SqlClient.SqlClient
        return yield* sql<{ kind: string; run_id: string; agent: string; tool: string; app: string; decision: string; outcome: string; entry: string }>`SELECT * FROM heroku_audit`
      }).pipe(Effect.provide(HerokuTools.layer(grant).pipe(Layer.provideMerge(Layer.merge(clientLayer(fake), AuditLog.layerSql())), Layer.provideMerge(sqlite))))
      expect(rows.map((r) => [r.kind, r.run_id, r.agent, r.tool, r.app, r.decision, r.outcome])).toEqual([
        ["intent", "run-test", "ops-bot", "heroku_dynos_restart_all", "alpha", "approved", "pending"],
        ["outcome", "run-test", "ops-bot", "heroku_dynos_restart_all", "alpha", "approved", "success"]
      ])
      expect(JSON.parse(rows[0]!.entry)).toMatchObject({ by: "oncall", toolCallId: "call-heroku_dynos_restart_all" })
    }))
})

describe("9. two-factor", () => {
  const CODE = "424242"
  const protectedFake = FakeHerokuPlatform.make({ twoFactor: { code: CODE, paths: /^\/apps\/[^/]+$/, methods: ["DELETE"] } })

  it.live("without a TwoFactor service the call fails with Heroku's two_factor error", () =>
    Effect.gen(function* () {
      const fake = yield* protectedFake
      fake.addApp("alpha")
      const grant = full(["apps"])
      const execution = yield* execute(grant, "heroku_apps_delete", { app: "alpha" }, "oncall").pipe(Effect.provide(harness(fake, grant)))
      expect(execution.value).toMatchObject({ error: { error: "HerokuForbidden", status: 403, id: "two_factor" } })
      expect(fake.state.apps.size).toBe(1)
    }))

  it.live("an approval whose answer carries the code completes the call; the code is sent as Heroku-Two-Factor-Code and appears nowhere else", () =>
    Effect.gen(function* () {
      const fake = yield* protectedFake
      fake.addApp("alpha")
      const grant = full(["apps"])
      const asked: Array<Approval.ApprovalRequest> = []
      const approvals = Approval.layerPolicy((request) => {
        asked.push(request)
        return request.toolName === TwoFactor.CHALLENGE_TOOL ? Approval.Verdict.approved({ by: "alice@example.com", reason: CODE }) : Approval.Verdict.denied("no")
      })
      const { execution, audit } = yield* Effect.gen(function* () {
        const execution = yield* execute(grant, "heroku_apps_delete", { app: "alpha" }, "oncall")
        return { execution, audit: yield* entries }
      }).pipe(Effect.provide(harness(fake, grant)), Effect.provide(TwoFactor.layerFromApprovals.pipe(Layer.provide(approvals))))
      expect(execution.isError).toBe(false)
      expect(fake.state.apps.size).toBe(0)
      expect(fake.requests.filter((r) => r.method === "DELETE").map((r) => [r.status, r.twoFactorCode])).toEqual([
        [403, undefined],
        [200, CODE]
      ])
      expect(asked).toMatchObject([{ runId: "run-test", toolCallId: "call-heroku_apps_delete#two-factor", toolName: "heroku_two_factor", arguments: { tool: "heroku_apps_delete", app: "alpha" } }])
      expect(audit[1]).toMatchObject({ kind: "outcome", outcome: "success", reason: "second factor supplied by alice@example.com" })
      expect(JSON.stringify({ execution, audit })).not.toContain(CODE)
    }))

  it.live("a denied challenge (or a wrong code) leaves the two_factor error and the app in place", () =>
    Effect.gen(function* () {
      const fake = yield* protectedFake
      fake.addApp("alpha")
      const grant = full(["apps"])
      for (const answer of [Option.none(), Option.some({ code: Redacted.make("000000"), by: "mallory" })]) {
        const execution = yield* execute(grant, "heroku_apps_delete", { app: "alpha" }, "oncall").pipe(
          Effect.provide(harness(fake, grant)),
          Effect.provide(TwoFactor.layer(() => Effect.succeed(answer)))
        )
        expect(execution.value).toMatchObject({ error: { id: "two_factor" } })
      }
      expect(fake.state.apps.size).toBe(1)
    }))
})
