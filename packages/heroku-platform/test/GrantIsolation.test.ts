/** Two agents with different grants in one context: each reaches the handlers of its own grant. */
import { Agent, Approval, Loop, RunStore } from "@agentloop/core"
import { AuditLog, Grant, HerokuTools } from "@agentloop/heroku-platform"
import { FakeHerokuPlatform, ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { clientLayer } from "./support.js"

describe("HerokuTools layers with different grants in one context", () => {
  it.live("are isolated: the staging agent cannot reach production through the production layer's handlers", () =>
    Effect.gen(function* () {
      const staging = Grant.make({ access: { apps: "read" }, apps: ["staging"] })
      const production = Grant.make({ access: { apps: "read" }, apps: ["production"] })
      for (const order of [[staging, production], [production, staging]]) {
        const fake = yield* FakeHerokuPlatform.make()
        fake.addApp("staging")
        fake.addApp("production")
        const model = ScriptedModel.make([
          ScriptedModel.toolCall("heroku_apps_info", { app: "production" }),
          ScriptedModel.text("staging agent done"),
          ScriptedModel.toolCall("heroku_apps_info", { app: "production" }),
          ScriptedModel.text("production agent done")
        ])
        const context = Layer.mergeAll(HerokuTools.layer(order[0]!), HerokuTools.layer(order[1]!)).pipe(
          Layer.provideMerge(Layer.mergeAll(clientLayer(fake), AuditLog.layerMemory, model.layer, Approval.layerAutoApprove, RunStore.layerMemory))
        )
        const audit = yield* Effect.gen(function* () {
          const stagingAgent = yield* Loop.makeRunner(Agent.make({ name: "staging-ops", toolkit: HerokuTools.toolkit(staging) }))
          const productionAgent = yield* Loop.makeRunner(Agent.make({ name: "production-ops", toolkit: HerokuTools.toolkit(production) }))
          yield* stagingAgent.run({ input: "look at production" })
          yield* productionAgent.run({ input: "look at production" })
          return yield* Effect.flatMap(AuditLog.AuditLog, (log) => log.entries)
        }).pipe(Effect.provide(context))
        const results = model.requests
          .map((r) => r.messages.find((m) => m._tag === "ToolMessage") as { content: string; isError: boolean } | undefined)
          .filter((m) => m !== undefined)
        expect(results[0]).toMatchObject({ isError: true })
        expect(results[0]!.content).toContain('does not cover the app \\"production\\"')
        expect(results[1]).toMatchObject({ isError: false })
        // The staging agent learns nothing about production: its only requests resolve the app's identity
        // (a name the model gave may be another spelling of a granted app), and nothing of it reaches the model.
        const productionId = fake.requests.at(-1)!.path.split("/").at(-1)!
        expect(results[0]!.content).not.toContain(productionId)
        expect(fake.requests.every((r) => r.method === "GET")).toBe(true)
        expect(fake.requests.filter((r) => r.path === `/apps/${productionId}`)).toHaveLength(1)
        expect(audit).toMatchObject([
          { tool: "heroku_apps_info", app: "production", kind: "refusal", by: "grant", outcome: "not_run" },
          { tool: "heroku_apps_info", app: "production", kind: "intent", decision: "allowed", appId: productionId },
          { tool: "heroku_apps_info", app: "production", kind: "outcome", decision: "allowed", outcome: "success" }
        ])
      }
    }))
})
