/**
 * Typed final output (`Agent.make({ output })`) through the public API: on the local backend (the last
 * text is parsed) and on Heroku chat completions against its fake (the schema is sent as a JSON-schema
 * response format, in both the streaming and the whole-completion mode).
 */
import { Agent, AgentBackend, Approval, type LanguageModel, Output, RunStore, Toolkit } from "@agentloop/core"
import { ChatModel } from "@agentloop/heroku"
import { FakeHerokuInference, Harness, ScriptedModel as S } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Schema } from "effect"

const Forecast = Schema.Struct({ city: Schema.String, celsius: Schema.Number, rain: Schema.Boolean })

const weatherAgent = (outputRetries?: number) =>
  Agent.make({
    name: "forecaster",
    instructions: "Answer with the forecast as JSON.",
    toolkit: Harness.toolkit,
    output: Forecast,
    ...(outputRetries === undefined ? {} : { outputRetries })
  })

const backendOver = (agent: ReturnType<typeof weatherAgent>, model: Layer.Layer<LanguageModel.LanguageModel, never, never>) =>
  AgentBackend.layerLocal(agent).pipe(
    Layer.provide(Layer.mergeAll(model, Harness.handlers([]), Approval.layerAutoApprove, RunStore.layerMemory))
  )

const run = (input: string) => Effect.flatMap(AgentBackend.AgentBackend, (backend) => backend.run({ input }))

describe("typed final output", () => {
  it.effect("local backend: the final text (even fenced) is decoded into Completed.output, typed by the agent's schema", () =>
    Effect.gen(function* () {
      const agent = weatherAgent()
      const model = S.make([S.toolCall("get_weather", { city: "Oslo" }), S.text('```json\n{"city":"Oslo","celsius":5,"rain":true}\n```')])
      const outcome = yield* run("Weather in Oslo?").pipe(Effect.provide(backendOver(agent, model.layer)))
      expect(outcome._tag).toBe("Completed")
      const forecast = Output.of(agent, outcome)
      expect(Option.getOrThrow(forecast)).toEqual({ city: "Oslo", celsius: 5, rain: true })
      // Every step tells the model the schema.
      expect(model.requests.map((r) => r.responseFormat?.name)).toEqual(["forecaster", "forecaster"])
      expect(model.requests[0]!.responseFormat?.schema).toMatchObject({ type: "object", required: ["city", "celsius", "rain"] })
    }))

  it.effect("an answer failing the schema goes back to the model with the schema error, then a valid one completes", () =>
    Effect.gen(function* () {
      const model = S.make([S.text('{"city":"Oslo","celsius":"five","rain":true}'), S.text("not json at all"), S.text('{"city":"Oslo","celsius":5,"rain":false}')])
      const outcome = yield* run("Weather?").pipe(Effect.provide(backendOver(weatherAgent(), model.layer)))
      expect(outcome._tag === "Completed" && outcome.output).toEqual({ city: "Oslo", celsius: 5, rain: false })
      const reprompts = model.requests.slice(1).map((r) => r.messages.at(-1))
      expect(reprompts[0]).toMatchObject({ _tag: "UserMessage" })
      expect((reprompts[0] as { content: string }).content).toContain('["celsius"]')
      expect((reprompts[0] as { content: string }).content).toContain("Expected number")
      expect((reprompts[1] as { content: string }).content).toContain("not valid JSON")
    }))

  it.effect("after the retries, the run stops with invalid_output and says why", () =>
    Effect.gen(function* () {
      const model = S.make([S.text("{}"), S.text('{"city":1}')])
      const outcome = yield* run("Weather?").pipe(Effect.provide(backendOver(weatherAgent(1), model.layer)))
      expect(outcome).toMatchObject({ _tag: "Stopped", reason: "invalid_output", steps: 2 })
      expect(outcome._tag === "Stopped" && outcome.detail).toContain("after 2 attempt(s)")
      expect(outcome._tag === "Stopped" && outcome.detail).toContain("city")
    }))

  for (const stream of [true, false]) {
    it.effect(`Heroku chat completions (stream: ${stream}): the schema goes out as response_format json_schema; the answer is decoded`, () =>
      Effect.gen(function* () {
        const fake = yield* FakeHerokuInference.make({ chat: [S.toolCall("get_weather", { city: "Oslo" }), S.text('{"city":"Oslo","celsius":5,"rain":true}')] })
        const model = ChatModel.layer({ url: fake.url, key: Redacted.make(fake.key), model: fake.model, stream }).pipe(Layer.provide(NodeHttpClient.layerUndici))
        const outcome = yield* run("Weather in Oslo?").pipe(Effect.provide(backendOver(weatherAgent(), model)))
        expect(outcome._tag === "Completed" && outcome.output).toEqual({ city: "Oslo", celsius: 5, rain: true })
        expect(fake.requests).toHaveLength(2)
        for (const request of fake.requests) {
          expect(request.body?.response_format).toMatchObject({
            type: "json_schema",
            json_schema: { name: "forecaster", schema: { type: "object", properties: { city: { type: "string" }, celsius: { type: "number" } } } }
          })
        }
      }))
  }

  it.effect("an agent without output sends no response_format", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make({ chat: [S.text("plain")] })
      const model = ChatModel.layer({ url: fake.url, key: Redacted.make(fake.key), model: fake.model }).pipe(Layer.provide(NodeHttpClient.layerUndici))
      const agent = Agent.make({ name: "plain", toolkit: Toolkit.make() })
      const outcome = yield* run("hi").pipe(
        Effect.provide(AgentBackend.layerLocal(agent).pipe(Layer.provide(Layer.mergeAll(model, Approval.layerAutoApprove, RunStore.layerMemory))))
      )
      expect(outcome._tag === "Completed" && "output" in outcome).toBe(false)
      expect(fake.requests[0]!.body?.response_format).toBeUndefined()
    }))

  it("Output.decode reads fenced JSON and names the failing field", () => {
    const spec = Output.make(Forecast, { name: "f" })
    expect(Output.decode(spec, '```\n{"city":"A","celsius":1,"rain":false}\n```')._tag).toBe("Success")
    const bad = Output.decode(spec, '{"city":"A","celsius":1}')
    expect(bad._tag === "Failure" && bad.failure).toContain('["rain"]')
    expect(() => Output.make(Forecast, { name: "f", retries: -1 })).toThrow(TypeError)
  })
})
