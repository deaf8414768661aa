/**
 * Typed output modes (`Agent.make({ output, outputMode })`) through the public API: the final-answer tool
 * on the local backend (validation, retries, tool rules, tool choice, approvals with suspend/resume, a
 * context policy) and on Heroku chat completions' fake; "auto" and "text" modes; the build errors.
 */
import { Agent, AgentBackend, Approval, ContextPolicy, type LanguageModel, Output, RunStore, ToolRule, Toolkit, Tool } from "@agentloop/core"
import { AgentsModel, ChatModel } from "@agentloop/heroku"
import { LettaModel } from "@agentloop/letta"
import { FakeHerokuInference, FakeLetta, Harness, ScriptedModel as S } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option, Redacted, Schema } from "effect"

const Forecast = Schema.Struct({ city: Schema.String, celsius: Schema.Number, rain: Schema.Boolean })
const oslo = { city: "Oslo", celsius: 5, rain: true }

const forecaster = (options: Partial<Agent.Options<typeof Harness.toolkit.tools, typeof Forecast.Type, typeof Forecast.Encoded>> = {}) =>
  Agent.make({ name: "forecaster", toolkit: Harness.toolkit, output: Forecast, outputMode: "tool", ...options })

const backendOver = (
  agent: Agent.Agent<typeof Harness.toolkit.tools, unknown>,
  model: Layer.Layer<LanguageModel.LanguageModel>,
  extra: {
    readonly approvals?: Layer.Layer<Approval.Approvals>
    readonly policy?: Layer.Layer<ContextPolicy.ContextPolicy>
    readonly store?: Layer.Layer<RunStore.RunStore>
  } = {},
  calls: Array<string> = []
) =>
  AgentBackend.layerLocal(agent).pipe(
    Layer.provide(
      Layer.mergeAll(model, Harness.handlers(calls), extra.approvals ?? Approval.layerAutoApprove, extra.store ?? RunStore.layerMemory, extra.policy ?? Layer.empty)
    )
  )

const run = (input: string) => Effect.flatMap(AgentBackend.AgentBackend, (backend) => backend.run({ input }))

describe("typed output: final-answer tool mode", () => {
  it.effect("local backend: the model is offered final_answer with the schema; a bad call gets the schema error, a valid one completes", () =>
    Effect.gen(function* () {
      const agent = forecaster()
      const model = S.make([
        S.toolCall("get_weather", { city: "Oslo" }),
        S.toolCall("final_answer", { city: "Oslo", celsius: "five", rain: true }),
        S.toolCall("final_answer", oslo)
      ])
      const outcome = yield* run("Weather in Oslo?").pipe(Effect.provide(backendOver(agent, model.layer)))
      expect(outcome).toMatchObject({ _tag: "Completed", reason: "end_turn", steps: 3, text: JSON.stringify(oslo) })
      expect(Option.getOrThrow(Output.of(agent, outcome))).toEqual(oslo)
      const first = model.requests[0]!
      expect(first.tools).toEqual(["get_weather", "set_alarm", "final_answer"])
      expect(first.toolDefinitions.at(-1)!.parameters).toMatchObject({ type: "object", required: ["city", "celsius", "rain"], properties: { celsius: { type: "number" } } })
      expect(first.responseFormat).toBeUndefined()
      // The invalid call's result names the field and the reason.
      const rejected = model.requests[2]!.messages.at(-1)
      expect(rejected).toMatchObject({ _tag: "ToolMessage", toolName: "final_answer", isError: true })
      expect((rejected as { content: string }).content).toContain('["celsius"]')
      expect((rejected as { content: string }).content).toContain("Expected number")
    }))

  it.effect("invalid calls spend outputRetries, then the run stops with invalid_output naming the field", () =>
    Effect.gen(function* () {
      const model = S.make([S.toolCall("final_answer", { city: "Oslo" }), S.toolCall("final_answer", { city: 1, celsius: 1, rain: false })])
      const outcome = yield* run("Weather?").pipe(Effect.provide(backendOver(forecaster({ outputRetries: 1 }), model.layer)))
      expect(outcome).toMatchObject({ _tag: "Stopped", reason: "invalid_output", steps: 2 })
      expect(outcome._tag === "Stopped" && outcome.detail).toContain("after 2 attempt(s)")
      expect(outcome._tag === "Stopped" && outcome.detail).toContain('["city"]')
    }))

  it.effect("a text answer is still decoded; one that fails is re-prompted to call the tool", () =>
    Effect.gen(function* () {
      const model = S.make([S.text("It rains in Oslo."), S.text(JSON.stringify(oslo))])
      const outcome = yield* run("Weather?").pipe(Effect.provide(backendOver(forecaster(), model.layer)))
      expect(outcome._tag === "Completed" && outcome.output).toEqual(oslo)
      expect((model.requests[1]!.messages.at(-1) as { content: string }).content).toContain("Call the final_answer tool")
    }))

  it.effect("tool choice required is satisfied by final_answer (one step, no re-prompt)", () =>
    Effect.gen(function* () {
      const model = S.make([S.toolCall("final_answer", oslo)])
      const outcome = yield* run("Weather?").pipe(Effect.provide(backendOver(forecaster({ toolChoice: "required" }), model.layer)))
      expect(outcome).toMatchObject({ _tag: "Completed", steps: 1, output: oslo })
      expect(model.requests[0]!.toolChoice).toBe("required")
    }))

  it.effect("tool choice may name the final-answer tool in tool mode: the answer is forced at once", () =>
    Effect.gen(function* () {
      const model = S.make([S.toolCall("final_answer", oslo)])
      const outcome = yield* run("Weather?").pipe(Effect.provide(backendOver(forecaster({ toolChoice: { function: "final_answer" } }), model.layer)))
      expect(outcome).toMatchObject({ _tag: "Completed", steps: 1, output: oslo })
      expect(model.requests[0]!.toolChoice).toEqual({ function: "final_answer" })
      // Not in another mode: there is no such tool.
      const exit = yield* Effect.exit(
        Effect.provide(AgentBackend.AgentBackend, backendOver(forecaster({ outputMode: "response_format", toolChoice: { function: "final_answer" } }), S.make([]).layerUnchecked))
      )
      expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("InvalidToolChoice")
    }))

  it.effect("required-before-exit: an early final answer is refused until the required tool has run", () =>
    Effect.gen(function* () {
      const calls: Array<string> = []
      const model = S.make([S.toolCall("final_answer", oslo), S.toolCall("get_weather", { city: "Oslo" }), S.toolCall("final_answer", oslo)])
      const agent = forecaster({ rules: [ToolRule.requiredBeforeExit("get_weather")] })
      const outcome = yield* run("Weather?").pipe(Effect.provide(backendOver(agent, model.layer, {}, calls)))
      expect(outcome).toMatchObject({ _tag: "Completed", steps: 3, output: oslo })
      expect(calls).toEqual(["get_weather:Oslo"])
      expect(model.requests[1]!.messages.at(-1)).toMatchObject({ _tag: "UserMessage", content: expect.stringContaining("get_weather") })
    }))

  it.effect("a terminal rule's tool ends the run; a final answer in the same step wins and carries the output", () =>
    Effect.gen(function* () {
      const model = S.make([S.toolCalls([{ name: "get_weather", args: { city: "Oslo" }, id: "c1" }, { name: "final_answer", args: oslo, id: "c2" }])])
      const agent = forecaster({ rules: [ToolRule.terminal("get_weather")] })
      const outcome = yield* run("Weather?").pipe(Effect.provide(backendOver(agent, model.layer)))
      expect(outcome).toMatchObject({ _tag: "Completed", reason: "end_turn", output: oslo })
    }))

  it.effect("approvals: a final answer given beside a call that suspends completes the run on resume (kept in the run state)", () =>
    Effect.gen(function* () {
      const calls: Array<string> = []
      const model = S.make([S.toolCalls([{ name: "set_alarm", args: { time: "07:00" }, id: "c1" }, { name: "final_answer", args: oslo, id: "c2" }])])
      // Two backends over one store: the resume knows only what the run state holds.
      const store = Layer.succeedContext(yield* Layer.build(RunStore.layerMemory))
      const backend = () => Effect.provide(AgentBackend.AgentBackend, backendOver(forecaster(), model.layerUnchecked, { approvals: Approval.layerSuspend(), store }, calls))
      const b = yield* backend()
      const first = yield* b.run({ input: "Weather, and wake me" })
      if (first._tag !== "Suspended") throw new Error(`expected Suspended, got ${first._tag}`)
      const stored = Option.getOrThrow(yield* b.getRun(first.runId))
      expect(stored.messages.some((m) => m._tag === "ToolMessage" && m.toolName === "final_answer" && !m.isError)).toBe(true)
      const second = yield* Effect.flatMap(backend(), (fresh) => fresh.resume(first.runId, [Approval.approve(first.pending[0]!)]))
      expect(second).toMatchObject({ _tag: "Completed", output: oslo, steps: 1 })
      expect(calls).toEqual(["set_alarm:07:00"])
      expect(model.requests).toHaveLength(1)
    }))

  it.effect("a context policy trims the messages but the final-answer tool is still offered", () =>
    Effect.gen(function* () {
      const model = S.make([S.toolCall("get_weather", { city: "Oslo" }), S.toolCall("final_answer", oslo)])
      const outcome = yield* run("Weather?").pipe(Effect.provide(backendOver(forecaster(), model.layer, { policy: ContextPolicy.layerLastTurns(1) })))
      expect(outcome).toMatchObject({ _tag: "Completed", output: oslo })
      expect(model.requests[1]!.tools).toContain("final_answer")
    }))

  it.effect("a non-object schema is wrapped in { value } and unwrapped", () =>
    Effect.gen(function* () {
      const agent = Agent.make({ name: "lister", toolkit: Toolkit.make(), output: Schema.Array(Schema.String), outputMode: "tool", outputTool: "submit" })
      const model = S.make([S.toolCall("submit", { value: ["a", "b"] })])
      const outcome = yield* run("List").pipe(
        Effect.provide(AgentBackend.layerLocal(agent).pipe(Layer.provide(Layer.mergeAll(model.layer, Approval.layerAutoApprove, RunStore.layerMemory))))
      )
      expect(outcome).toMatchObject({ _tag: "Completed", output: ["a", "b"], text: '["a","b"]' })
      expect(model.requests[0]!.toolDefinitions[0]).toMatchObject({ name: "submit", parameters: { type: "object", required: ["value"] } })
    }))

  it.effect("a final-answer tool name taken by a toolkit tool fails the build with InvalidOutput", () =>
    Effect.gen(function* () {
      const clash = Tool.make("final_answer", { description: "mine", parameters: {}, success: Schema.String })
      const kit = Toolkit.make(clash)
      const agent = Agent.make({ name: "a", toolkit: kit, output: Forecast, outputMode: "tool" })
      const layer = AgentBackend.layerLocal(agent).pipe(
        Layer.provide(Layer.mergeAll(S.make([]).layerUnchecked, kit.toLayer({ final_answer: () => Effect.succeed("x") }), Approval.layerAutoApprove, RunStore.layerMemory))
      )
      const exit = yield* Effect.exit(Effect.provide(AgentBackend.AgentBackend, layer))
      const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.findErrorOption(exit.cause)) : undefined
      expect(error).toBeInstanceOf(Output.InvalidOutput)
      expect(error).toMatchObject({ agent: "a", tool: "final_answer" })
      expect((error as Output.InvalidOutput).message).toContain("outputTool")
      const renamed = yield* Effect.exit(
        Effect.provide(AgentBackend.AgentBackend, backendOver(forecaster({ outputTool: "get_weather" }), S.make([]).layerUnchecked))
      )
      expect(Exit.isFailure(renamed) && JSON.stringify(renamed.cause)).toContain("InvalidOutput")
      expect(() => forecaster({ outputTool: "final answer!" })).toThrow(TypeError)
    }))

  it("tool mode needs client-side tools: a hosted backend without them refuses it before any request", () => {
    const lonely = Agent.make({ name: "a", toolkit: Toolkit.make(), output: Forecast, outputMode: "tool" })
    expect(AgentBackend.requiredCapabilities(lonely).map((n) => n.capability)).toEqual(["clientTools"])
    expect(Effect.runSyncExit(AgentBackend.checkCapabilities("heroku-agents", AgentsModel.capabilities, lonely))._tag).toBe("Failure")
  })

  for (const stream of [true, false]) {
    it.effect(`Heroku chat completions (stream: ${stream}), tool mode: the request's tools include final_answer with the schema, no response_format`, () =>
      Effect.gen(function* () {
        const fake = yield* FakeHerokuInference.make({ chat: [S.toolCall("final_answer", { city: "Oslo", celsius: "x", rain: true }), S.toolCall("final_answer", oslo)] })
        const model = ChatModel.layer({ url: fake.url, key: Redacted.make(fake.key), model: fake.model, stream }).pipe(Layer.provide(NodeHttpClient.layerUndici))
        const outcome = yield* run("Weather in Oslo?").pipe(Effect.provide(backendOver(forecaster(), model)))
        expect(outcome).toMatchObject({ _tag: "Completed", output: oslo })
        expect(fake.requests).toHaveLength(2)
        const bodies = fake.requests.map((r) => r.body as { tools: Array<{ function: { name: string; parameters: unknown } }>; response_format?: unknown; messages: Array<{ role: string; content: unknown }> })
        for (const body of bodies) {
          expect(body.response_format).toBeUndefined()
          expect(body.tools.map((t) => t.function.name)).toEqual(["get_weather", "set_alarm", "final_answer"])
          expect(body.tools[2]!.function.parameters).toMatchObject({ type: "object", properties: { city: { type: "string" }, celsius: { type: "number" }, rain: { type: "boolean" } } })
        }
        expect(bodies[1]!.messages.at(-1)).toMatchObject({ role: "tool", content: expect.stringContaining('["celsius"]') })
      }))
  }

  it.effect("auto: chat completions declare response_format, so the schema goes out as response_format and no tool is added", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make({ chat: [S.text(JSON.stringify(oslo))] })
      const model = ChatModel.layer({ url: fake.url, key: Redacted.make(fake.key), model: fake.model }).pipe(Layer.provide(NodeHttpClient.layerUndici))
      const outcome = yield* run("Weather?").pipe(Effect.provide(backendOver(forecaster({ outputMode: "auto" }), model)))
      expect(outcome).toMatchObject({ _tag: "Completed", output: oslo })
      const body = fake.requests[0]!.body as { tools: Array<{ function: { name: string } }>; response_format?: unknown }
      expect(body.response_format).toMatchObject({ type: "json_schema" })
      expect(body.tools.map((t) => t.function.name)).toEqual(["get_weather", "set_alarm"])
    }))

  it.effect("auto on Letta (its fake): no response format there, so final_answer goes out as a client tool and its call completes the run", () =>
    Effect.gen(function* () {
      const fake = yield* FakeLetta.make({ turns: [[{ kind: "client_tool", name: "final_answer", args: oslo }]] })
      const model = LettaModel.layer({ apiKey: Redacted.make(fake.apiKey), baseUrl: fake.url, agentId: fake.agentId }).pipe(Layer.provide(NodeHttpClient.layerUndici))
      const outcome = yield* run("Weather?").pipe(Effect.provide(backendOver(forecaster({ outputMode: "auto" }), model)))
      expect(outcome).toMatchObject({ _tag: "Completed", output: oslo, text: JSON.stringify(oslo) })
      const sent = fake.requests.find((r) => Array.isArray((r.body as { client_tools?: unknown })?.client_tools))
      const tools = (sent!.body as { client_tools: Array<{ name: string; parameters: unknown }> }).client_tools
      expect(tools.map((t) => t.name)).toEqual(["get_weather", "set_alarm", "final_answer"])
      expect(tools[2]!.parameters).toMatchObject({ type: "object", required: ["city", "celsius", "rain"] })
    }))

  it.effect("auto on a model that declares nothing (the scripted model) uses the tool; text mode puts the schema in the instructions", () =>
    Effect.gen(function* () {
      const auto = S.make([S.toolCall("final_answer", oslo)])
      expect(yield* run("Weather?").pipe(Effect.provide(backendOver(forecaster({ outputMode: "auto" }), auto.layer)))).toMatchObject({ output: oslo })
      expect(auto.requests[0]!.tools).toContain("final_answer")
      const text = S.make([S.text(JSON.stringify(oslo))])
      expect(yield* run("Weather?").pipe(Effect.provide(backendOver(forecaster({ outputMode: "text" }), text.layer)))).toMatchObject({ output: oslo })
      expect(text.requests[0]!.tools).not.toContain("final_answer")
      expect(text.requests[0]!.responseFormat).toBeUndefined()
      expect(text.requests[0]!.messages[0]).toMatchObject({ _tag: "SystemMessage", content: expect.stringContaining('"required":["city","celsius","rain"]') })
    }))
})
