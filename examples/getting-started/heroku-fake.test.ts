// examples/getting-started/heroku-fake.test.ts: the agent on ChatModel, against the fake Heroku Inference server.
import { ChatModel } from "@agentloop/heroku"
import { FakeHerokuInference, ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { handlers, main } from "./first-agent.js"

describe("release-bot on ChatModel", () => {
  // it.live: real sockets, and the model's timeouts on the real clock (it.effect's TestClock would stop them).
  it.live("sends the tool, gets the call back, and returns the result under the call's id", () =>
    Effect.gen(function* () {
      const outcome = yield* main
      expect(outcome).toMatchObject({ _tag: "Completed", text: "4.2.0 is live." })
      const fake = yield* FakeHerokuInference.Fake
      const [first, second] = fake.requests
      expect(first!.headers["authorization"]).toBe(`Bearer ${fake.key}`)
      expect(first!.body.tools).toMatchObject([{ type: "function", function: { name: "deploy", parameters: { required: ["version"] } } }])
      // The fake numbers calls as the scripted model does: call_<request>_<index>.
      expect(second!.body.messages.slice(-2)).toEqual([
        { role: "assistant", content: null, tool_calls: [{ id: "call_1_1", type: "function", function: { name: "deploy", arguments: '{"version":"4.2.0"}' } }] },
        { role: "tool", tool_call_id: "call_1_1", content: "deployed 4.2.0" }
      ])
    }).pipe(
      Effect.provide([
        FakeHerokuInference.layer(
          { chat: [ScriptedModel.toolCall("deploy", { version: "4.2.0" }), ScriptedModel.text("4.2.0 is live.")] },
          (fake) => ChatModel.layerFetch(fake.connection)
        ),
        handlers
      ])
    ))

  it.live("a server error reaches the run as a typed ModelError with the status", () =>
    main.pipe(
      Effect.flip,
      Effect.map((error) => expect(error).toMatchObject({ _tag: "ModelError", status: 400, retryable: false })),
      Effect.provide([
        FakeHerokuInference.layer({ chat: [{ status: 400, body: { error: { message: "model not found" } } }] }, (fake) =>
          ChatModel.layerFetch(fake.connection)
        ),
        handlers
      ])
    ))
})
