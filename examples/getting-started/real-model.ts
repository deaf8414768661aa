// examples/getting-started/real-model.ts: first-agent.ts's program on a real model, picked by the environment:
// OPENAI_API_KEY, ANTHROPIC_API_KEY, Heroku's INFERENCE_URL + INFERENCE_KEY + INFERENCE_MODEL_ID, or
// LOCAL_MODEL_URL (+ LOCAL_MODEL) for any OpenAI-compatible server (Ollama, vLLM, LM Studio, llama.cpp).
import { ChatModel, HerokuInference } from "@agentloop/heroku"
import { Config, Effect, Option, Redacted } from "effect"
import { handlers, main } from "./first-agent.js"

// Keys are read as Redacted: they never show in logs, errors or events.
const model = Effect.gen(function* () {
  const openai = yield* Config.option(Config.Redacted("OPENAI_API_KEY"))
  if (Option.isSome(openai)) return ChatModel.layerFetch({ url: "https://api.openai.com", key: openai.value, model: "gpt-4.1-mini", provider: "openai" })
  // Anthropic's OpenAI-compatible endpoint (the same /v1/chat/completions path).
  const anthropic = yield* Config.option(Config.Redacted("ANTHROPIC_API_KEY"))
  if (Option.isSome(anthropic)) return ChatModel.layerFetch({ url: "https://api.anthropic.com", key: anthropic.value, model: "claude-sonnet-4-5", provider: "anthropic" })
  if (Option.isSome(yield* Config.option(Config.String("INFERENCE_URL")))) return ChatModel.layerFetch(yield* HerokuInference.fromEnv)
  // A local server: its base URL (without /v1/...); the key is whatever it accepts.
  const local = yield* Config.option(Config.String("LOCAL_MODEL_URL"))
  if (Option.isSome(local)) {
    const name = yield* Config.String("LOCAL_MODEL").pipe(Config.withDefault("llama3.2"))
    return ChatModel.layerFetch({ url: local.value, key: Redacted.make("local"), model: name, provider: "local" })
  }
  return undefined
})

const layer = await Effect.runPromise(model)
if (layer === undefined) {
  console.log("No model configured: set OPENAI_API_KEY, ANTHROPIC_API_KEY, INFERENCE_URL or LOCAL_MODEL_URL.")
} else {
  const outcome = await main.pipe(Effect.provide([layer, handlers]), Effect.runPromise)
  if (outcome._tag === "Completed") console.log(`answer: ${outcome.text}`)
}
