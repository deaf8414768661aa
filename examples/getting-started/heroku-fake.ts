// examples/getting-started/heroku-fake.ts: the same agent on Heroku's chat-completions model, over real HTTP
// to @agentloop/testing's fake of Heroku Managed Inference on 127.0.0.1.
import { ChatModel } from "@agentloop/heroku"
import { FakeHerokuInference, ScriptedModel } from "@agentloop/testing"
import { Effect } from "effect"
import { handlers, main } from "./first-agent.js"

// The fake plays these answers as OpenAI-compatible chat completions (streamed as SSE). `fake.connection` is
// { url, key, model }, the key a Redacted (as ChatModel takes it). ChatModel.layerFetch sends the requests
// with Node's fetch: no HttpClient to provide. The fake starts with the layer and stops with it.
const model = FakeHerokuInference.layer(
  { chat: [ScriptedModel.toolCall("deploy", { version: "4.2.0" }), ScriptedModel.text("4.2.0 is live.")] },
  (fake) => ChatModel.layerFetch(fake.connection)
)

const program = Effect.gen(function* () {
  const outcome = yield* main // first-agent.ts's program, unchanged: only the model layer differs
  const fake = yield* FakeHerokuInference.Fake
  console.log(`the fake answered ${fake.requests.length} requests (${fake.requests.map((r) => `${r.method} ${r.path}`).join(", ")})`)
  return outcome
})

await program.pipe(Effect.provide([model, handlers]), Effect.runPromise)
