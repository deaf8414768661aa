/**
 * The approvals console on localhost (`pnpm demo:console`): the offline Heroku ops agent (a scripted model
 * against the in-process fake Heroku, where "shop-api" has crashed) served by `@agentloop/server`. One run is
 * started at once, so the console shows its pending `heroku_dynos_restart_all` to approve or deny.
 *
 * Every run follows the same diagnosis: look at the app, list its dynos, read its logs, ask to restart
 * (which needs a human's approval), then check the dynos again, or explain why it did not restart.
 */
import { Agent, AgentBackend, Approval, Message, RunStore, ToolRule } from "@agentloop/core"
import { AuditLog, Grant, HerokuClient, HerokuTools, Operations } from "@agentloop/heroku-platform"
import { Auth, Runs, Server } from "@agentloop/server"
import { FakeHerokuPlatform, ScriptedModel } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { Context, Duration, Effect, Layer, Redacted } from "effect"

export const grant = Grant.make({
  agent: "heroku-ops",
  access: { apps: "read", dynos: "full", formation: "full", releases: "read", logs: "read" },
  approvalFor: ["write", "destructive", "costs_money", "exposes_secrets"]
})

export const app = "shop-api"

/** The model's next turn from the conversation so far (a real model would decide this from the results). */
export const opsTurn = (request: ScriptedModel.RecordedRequest): ScriptedModel.ReplyTurn => {
  const results = request.messages.filter((m): m is Message.ToolMessage => m._tag === "ToolMessage")
  const last = results[results.length - 1]
  switch (results.length) {
    case 0:
      return ScriptedModel.toolCall("heroku_apps_info", { app }, { text: `Let me look at ${app}.` })
    case 1:
      return ScriptedModel.toolCall("heroku_dynos_list", { app })
    case 2:
      return ScriptedModel.toolCall("heroku_logs_read", { app, lines: 20 })
    case 3:
      return ScriptedModel.toolCall("heroku_dynos_restart_all", { app }, { text: "The web dyno crashed (H10). A restart should bring it back." })
    case 4: {
      if (last !== undefined && last.isError) {
        const reason = /User reason: (.*)$/s.exec(last.content)?.[1] ?? last.content
        return ScriptedModel.text(`I did not restart ${app}. The on-call engineer said: ${reason}`)
      }
      return ScriptedModel.toolCall("heroku_dynos_list", { app })
    }
    default:
      return ScriptedModel.text(`Restarted ${app}; its dynos are up again. The crash came from a missing module: check package.json.`)
  }
}

/** What each tool risks, as the Heroku operations table says (shown with each pending approval). */
export const riskOf = (tool: string): string | undefined => {
  const risks = Operations.byTool.get(tool)?.risks.filter((risk) => risk !== "read" && risk !== "write")
  return risks === undefined ? undefined : risks.length > 0 ? risks.join(", ") : Operations.byTool.get(tool)!.access
}

/** The Heroku ops agent against a fresh fake Heroku, as the server serves it. */
export const herokuOps = (options: { readonly expiresIn?: Duration.Input; readonly turnDelay?: Duration.Input } = {}): Runs.Agent<AgentBackend.AgentError> => ({
  description: "On-call assistant for Heroku apps (offline: scripted model, fake Heroku)",
  risk: riskOf,
  backend: Layer.unwrap(
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp(app)
      fake.crash(app)
      const delay = options.turnDelay
      const turn = delay === undefined ? opsTurn : (request: ScriptedModel.RecordedRequest): ScriptedModel.ReplyTurn => ({ ...opsTurn(request), delay })
      const model = ScriptedModel.make(Array.from({ length: 100_000 }, () => ScriptedModel.respond(turn)))
      const agent = Agent.make({
        name: "heroku-ops",
        instructions: "You are an on-call assistant for Heroku apps. Diagnose before you act; explain what you did.",
        toolkit: HerokuTools.toolkit(grant),
        rules: [ToolRule.init("heroku_apps_info"), ToolRule.maxCountPerStep("heroku_dynos_restart_all", 1)],
        maxSteps: 12
      })
      return AgentBackend.layerLocal(agent).pipe(
        Layer.provide(HerokuTools.layer(grant)),
        Layer.provide(
          Layer.mergeAll(
            model.layerUnchecked,
            Approval.layerSuspend(options.expiresIn === undefined ? undefined : { expiresIn: options.expiresIn }),
            RunStore.layerMemory,
            AuditLog.layerMemory,
            HerokuClient.layer({ token: Redacted.make("test-token"), baseUrl: fake.url }).pipe(Layer.provide(NodeHttpClient.layerUndici))
          )
        )
      )
    })
  )
})

/** The demo's identities. Tokens are for this local demo only. */
export const demoTokens = {
  admin: { token: "demo-admin-token-change-me", subject: "admin@example.com", role: "admin" },
  approver: { token: "demo-approver-token-change-me", subject: "oncall@example.com", role: "approver" },
  viewer: { token: "demo-viewer-token-change-me", subject: "viewer@example.com", role: "viewer" }
} as const satisfies Record<string, Auth.Token>

/** The server with the Heroku ops agent, listening on `port` (0: any free port); returns its base URL. */
export const serve = (options: { readonly port: number; readonly expiresIn?: Duration.Input }) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      Server.layerNode({ port: options.port }).pipe(
        Layer.provideMerge(Runs.layer({ "heroku-ops": herokuOps(options.expiresIn === undefined ? {} : { expiresIn: options.expiresIn }) })),
        Layer.provide(Auth.layerBearerTokens(Object.values(demoTokens)))
      )
    )
    const url = yield* Effect.provideContext(Server.url, context)
    return { url, runs: Context.get(context, Runs.Runs) }
  })

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env["PORT"] ?? 8787)
  Effect.gen(function* () {
    const { url, runs } = yield* serve({ port, expiresIn: "30 minutes" })
    yield* runs.start(new Auth.Identity({ subject: demoTokens.admin.subject, role: "admin" }), "heroku-ops", {
      input: `${app} is returning errors. Find out why and fix it.`
    })
    console.log(`Approvals console: ${url}/console/`)
    console.log(`OpenAPI document:  ${url}${Server.openapiPath}`)
    for (const { token, subject, role } of Object.values(demoTokens)) console.log(`  ${role.padEnd(8)} ${subject.padEnd(20)} token: ${token}`)
    console.log("A run of heroku-ops is waiting for its restart to be approved. Ctrl-C to stop.")
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.runPromise).catch((error) => {
    console.error(String(error))
    process.exit(1)
  })
}
