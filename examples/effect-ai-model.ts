/**
 * An effect/ai `LanguageModel` powering an agentloop agent through `EffectAi.layer`. The effect/ai model here
 * is a small offline stand-in built with effect/ai's own `LanguageModel.make` (it streams encoded parts the way
 * a provider does); swap in any provider's layer, e.g. `OpenAiLanguageModel.model("gpt-5.2")` from
 * `@effect/ai-openai`, and nothing else changes. The loop runs the tools: the forecast (read-only), then the
 * booking (destructive, so it needs approval), then the answer streams in as text deltas.
 * Run with `pnpm exec tsx --conditions=@agentloop/source examples/effect-ai-model.ts`; tested by
 * test/effect-ai-example.test.ts.
 */
import { Agent, AgentBackend, Approval, RunStore, type RunState, Tool, Toolkit } from "@agentloop/core"
// Its own entry point: importing @agentloop/core alone loads nothing of effect/ai.
import * as EffectAi from "@agentloop/core/EffectAi"
import { Effect, Layer, Schema, Stream } from "effect"
import { LanguageModel, Model, type Prompt, type Response } from "effect/ai"

// --- the effect/ai side: a "provider" that answers from the prompt -----------------------------------------

/** The results the conversation holds so far, by tool name. */
const results = (prompt: Prompt.Prompt): Map<string, unknown> => {
  const found = new Map<string, unknown>()
  for (const message of prompt.content) {
    if (message.role === "tool") for (const part of message.content) if (part.type === "tool-result") found.set(part.name, part.result)
  }
  return found
}

const usage = { inputTokens: { total: 40 }, outputTokens: { total: 12 } }

/** What the stand-in model says next: call the forecast, then book, then answer in text (streamed word by word). */
const reply = (options: LanguageModel.ProviderOptions): Array<Response.StreamPartEncoded> => {
  const done = results(options.prompt)
  if (!done.has("get_forecast")) {
    return [
      { type: "tool-call", id: "call_forecast", name: "get_forecast", params: { city: "Lisbon" } },
      { type: "finish", reason: "tool-calls", usage }
    ]
  }
  if (!done.has("book_trip")) {
    return [
      { type: "tool-call", id: "call_book", name: "book_trip", params: { city: "Lisbon", day: "Saturday" } },
      { type: "finish", reason: "tool-calls", usage }
    ]
  }
  const words = `Saturday looks ${String(done.get("get_forecast"))}: ${String(done.get("book_trip"))}.`.split(/(?<= )/)
  return [
    { type: "text-start", id: "answer" },
    ...words.map((delta): Response.StreamPartEncoded => ({ type: "text-delta", id: "answer", delta })),
    { type: "text-end", id: "answer" },
    { type: "finish", reason: "stop", usage }
  ]
}

/** An effect/ai model layer, as `@effect/ai-*` providers make them (`Model.make` names the provider). */
export const standInModel = Model.make(
  "stand-in",
  "stand-in-1",
  Layer.effect(
    LanguageModel.LanguageModel,
    LanguageModel.make({
      streamText: (options) => Stream.fromIterable(reply(options)),
      // The parts of a whole answer: the deltas as one text part.
      generateText: (options) =>
        Effect.sync(() => {
          const parts = reply(options)
          const text = parts.flatMap((part) => (part.type === "text-delta" ? [part.delta] : [])).join("")
          const rest = parts.filter((part): part is Response.ToolCallPartEncoded | Response.FinishPartEncoded => part.type === "tool-call" || part.type === "finish")
          return text.length === 0 ? rest : [{ type: "text", text }, ...rest]
        })
    })
  )
)

// --- the agentloop side: an agent, its tools, approvals ----------------------------------------------------

const GetForecast = Tool.make("get_forecast", {
  description: "The weekend forecast for a city.",
  parameters: { city: Schema.String },
  success: Schema.String,
  hints: { readOnly: true, openWorld: true }
})
const BookTrip = Tool.make("book_trip", {
  description: "Book a day trip.",
  parameters: { city: Schema.String, day: Schema.String },
  success: Schema.String,
  hints: { destructive: true } // so it needs approval (Tool.hintDefaults)
})
const toolkit = Toolkit.make(GetForecast, BookTrip)
const agent = Agent.make({ name: "trip-planner", instructions: "Plan a day trip.", toolkit })

/** Runs the agent on the effect/ai model; returns the outcome, the streamed text and the approvals asked. */
export const main = () => {
  const approvals: Array<string> = []
  const deltas: Array<string> = []
  const layer = AgentBackend.layerLocal(agent).pipe(
    Layer.provide(
      Layer.mergeAll(
        EffectAi.layer.pipe(Layer.provide(standInModel)), // effect/ai LanguageModel -> agentloop LanguageModel
        toolkit.toLayer({
          get_forecast: () => Effect.succeed("sunny, 24°C"),
          book_trip: ({ city, day }) => Effect.succeed(`booked for ${city} on ${day}`)
        }),
        Approval.layerPolicy((request) => (approvals.push(request.toolName), Approval.Verdict.approved({ by: "example" }))),
        RunStore.layerMemory
      )
    )
  )
  return Effect.gen(function* () {
    const backend = yield* AgentBackend.AgentBackend
    let outcome: RunState.RunOutcome | undefined
    yield* Stream.runForEach(backend.stream({ input: "Plan a trip to Lisbon this weekend." }), (event) =>
      Effect.sync(() => {
        if (event._tag === "TextDelta") deltas.push(event.delta)
        if (event._tag === "RunFinished") outcome = event.outcome
      })
    )
    return { outcome: outcome!, deltas, approvals }
  }).pipe(Effect.provide(layer))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(main()).then(({ outcome, deltas, approvals }) => {
    console.log("streamed:", JSON.stringify(deltas))
    console.log("approvals asked:", approvals.join(", "))
    console.log(outcome)
  })
}
