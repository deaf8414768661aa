/** Test support: a fake Heroku on loopback and a client layer pointed at it. */
import { AuditLog, HerokuClient, HerokuTools, type Grant } from "@agentloop/heroku-platform"
import { type Tool, Toolkit } from "@agentloop/core"
import { FakeHerokuPlatform } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Redacted } from "effect"

export const clientLayer = (fake: FakeHerokuPlatform.FakeHeroku, options: Partial<HerokuClient.Options> = {}) =>
  HerokuClient.layer({ token: Redacted.make("test-token"), baseUrl: fake.url, retryBaseDelay: "5 millis", ...options }).pipe(
    Layer.provide(NodeHttpClient.layerUndici)
  )

/** Calls one tool the way the loop does (Toolkit.execute), with the handlers and audit log in the context. */
export const execute = (grant: Grant.Grant, name: string, args: Record<string, unknown>, approvedBy?: string, toolCallId = `call-${name}`) =>
  Effect.gen(function* () {
    const resolved = yield* Toolkit.resolve(HerokuTools.toolkit(grant))
    const context: Tool.HandlerContext = {
      runId: "run-test",
      toolCallId,
      idempotencyKey: `run-test:${toolCallId}`,
      ...(approvedBy === undefined ? {} : { approval: { decidedBy: approvedBy } })
    }
    return yield* Toolkit.execute(resolved, { name, args }, context)
  })

/** Runs one tool against the fake. Returns the execution and the audit log. */
export const runTool = (
  fake: FakeHerokuPlatform.FakeHeroku,
  grant: Grant.Grant,
  name: string,
  args: Record<string, unknown>,
  options: { readonly token?: string; readonly approvedBy?: string; readonly inferenceUrl?: string } = {}
) =>
  Effect.gen(function* () {
    const execution = yield* execute(grant, name, args, options.approvedBy)
    const audit = yield* Effect.flatMap(AuditLog.AuditLog, (log) => log.entries)
    return { execution, audit }
  }).pipe(
    Effect.provide(
      HerokuTools.layer(grant).pipe(
        Layer.provideMerge(
          Layer.merge(
            clientLayer(fake, {
              ...(options.token === undefined ? {} : { token: Redacted.make(options.token) }),
              ...(options.inferenceUrl === undefined ? {} : { inferenceUrl: options.inferenceUrl })
            }),
            AuditLog.layerMemory
          )
        )
      )
    )
  )

/**
 * Calls a tool's handler directly (not through `Toolkit.execute`, which decodes the arguments first): what
 * any other caller of the layer's handlers can do. Returns the handler's Exit as a Result.
 */
export const callHandler = (grant: Grant.Grant, name: string, args: unknown, approvedBy?: string, toolCallId = `direct-${name}`) =>
  Effect.gen(function* () {
    const resolved = yield* Toolkit.resolve(HerokuTools.toolkit(grant))
    const handler = resolved.handlers.get(name)
    if (handler === undefined) return yield* Effect.die(new Error(`no handler for ${name}`))
    const context: Tool.HandlerContext = {
      runId: "run-direct",
      toolCallId,
      idempotencyKey: `run-direct:${toolCallId}`,
      ...(approvedBy === undefined ? {} : { approval: { decidedBy: approvedBy } })
    }
    return yield* Effect.result(handler(args, context))
  })

const UUID = "11111111-2222-4333-8444-555555555555"

/** Arguments every tool accepts (its Schema's view), for the app `alpha` and the pipeline `shop`. */
export const validArguments: Readonly<Record<string, Record<string, unknown>>> = {
  heroku_apps_list: {},
  heroku_apps_info: { app: "alpha" },
  heroku_apps_create: { name: "beta-app" },
  heroku_apps_update: { app: "alpha", maintenance: true },
  heroku_apps_delete: { app: "alpha" },
  heroku_dynos_list: { app: "alpha" },
  heroku_dynos_info: { app: "alpha", dyno: "web.1" },
  heroku_dynos_run: { app: "alpha", command: "true" },
  heroku_dynos_restart: { app: "alpha", dyno: "web.1" },
  heroku_dynos_restart_all: { app: "alpha" },
  heroku_formation_list: { app: "alpha" },
  heroku_formation_update: { app: "alpha", type: "web", quantity: 1 },
  heroku_formation_batch_update: { app: "alpha", updates: [{ type: "web", quantity: 1 }] },
  heroku_config_vars_info: { app: "alpha" },
  heroku_config_vars_update: { app: "alpha", vars: { X: "1" } },
  heroku_releases_list: { app: "alpha" },
  heroku_releases_info: { app: "alpha", release: "1" },
  heroku_releases_create: { app: "alpha", slug: UUID },
  heroku_releases_rollback: { app: "alpha", release: UUID },
  heroku_builds_list: { app: "alpha" },
  heroku_builds_info: { app: "alpha", build: UUID },
  heroku_builds_create: { app: "alpha", url: "https://example.com/src.tgz" },
  heroku_addons_list: { app: "alpha" },
  heroku_addons_info: { app: "alpha", addon: "db" },
  heroku_addons_create: { app: "alpha", plan: "heroku-postgresql:essential-0" },
  heroku_addons_delete: { app: "alpha", addon: "db" },
  heroku_domains_list: { app: "alpha" },
  heroku_domains_create: { app: "alpha", hostname: "www.example.com" },
  heroku_domains_delete: { app: "alpha", domain: "www.example.com" },
  heroku_collaborators_list: { app: "alpha" },
  heroku_collaborators_create: { app: "alpha", user: "dev@example.com" },
  heroku_collaborators_delete: { app: "alpha", collaborator: "dev@example.com" },
  heroku_pipelines_list: {},
  heroku_pipelines_info: { pipeline: "shop" },
  heroku_pipelines_create: { name: "shop" },
  heroku_logs_read: { app: "alpha" },
  heroku_account_info: {},
  heroku_rate_limits_info: {},
  heroku_dynos_stop: { app: "alpha", dyno: "web.1" },
  heroku_dynos_restart_type: { app: "alpha", type: "web" },
  heroku_dynos_stop_type: { app: "alpha", type: "web" },
  heroku_formation_info: { app: "alpha", type: "web" },
  heroku_teams_list: {},
  heroku_team_apps_list: { team: "acme" },
  heroku_team_apps_create: { team: "acme", name: "acme-api" },
  heroku_spaces_list: {},
  heroku_spaces_info: { space: "acme-space" },
  heroku_addon_services_list: {},
  heroku_addon_plans_list: { service: "heroku-postgresql" },
  heroku_addons_list_all: {},
  heroku_user_apps_list: {},
  heroku_builds_create_from_files: { app: "alpha", files: [{ path: "index.js", content: "console.log(1)" }] },
  heroku_app_setups_create: { name: "gamma-app", files: [{ path: "app.json", content: "{}" }] },
  heroku_app_setups_info: { setup: UUID },
  heroku_ai_models_list: {},
  heroku_ai_inference: { app: "alpha", messages: [{ role: "user", content: "hi" }] },
  heroku_addons_lookup: { addon: "db" },
  heroku_addon_attachments_list: { app: "alpha" },
  heroku_addon_attachments_info: { app: "alpha", attachment: "DATABASE" },
  heroku_pipeline_couplings_list: { pipeline: "shop" },
  heroku_pipeline_couplings_create: { pipeline: "shop", app: "alpha", stage: "staging" },
  heroku_pipelines_promote: { pipeline: "shop", app: "alpha", to: ["beta-app"] },
  heroku_pipeline_promotions_info: { promotion: UUID }
}
