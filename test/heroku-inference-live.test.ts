/**
 * Opt-in: one question to the real Heroku Managed Inference chat-completions endpoint. Runs only when
 * INFERENCE_URL, INFERENCE_KEY and INFERENCE_MODEL_ID are set.
 */
import { Agent, AgentBackend, Approval, RunStore, Toolkit } from "@agentloop/core"
import { ChatModel, HerokuInference } from "@agentloop/heroku"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"

const configured = ["INFERENCE_URL", "INFERENCE_KEY", "INFERENCE_MODEL_ID"].every((name) => (process.env[name] ?? "") !== "")

describe.skipIf(!configured)("live Heroku Managed Inference (INFERENCE_*)", () => {
  it("answers a question through the local loop", async () => {
    const program = Effect.gen(function* () {
      const connection = yield* HerokuInference.fromEnv
      const layer = AgentBackend.layerLocal(Agent.make({ name: "live", toolkit: Toolkit.make() })).pipe(
        Layer.provide(Layer.mergeAll(ChatModel.layerHeroku(connection).pipe(Layer.provide(NodeHttpClient.layerUndici)), Approval.layerDenyAll(), RunStore.layerMemory))
      )
      return yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "Reply with the single word: pong" })).pipe(Effect.provide(layer))
    })
    const outcome = await Effect.runPromise(program)
    expect(outcome._tag).toBe("Completed")
  }, 60_000)
})
