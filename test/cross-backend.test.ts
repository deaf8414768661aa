/**
 * Acceptance: the same application code runs on every backend by swapping one Layer, and observes the same
 * outcome. Each hosted backend talks real HTTP to its in-process fake.
 */
import { Agent, AgentBackend, type AgentEvent, Approval, RunStore, Toolkit } from "@agentloop/core"
import { AgentsModel, ChatModel } from "@agentloop/heroku"
import { HumanloopModel } from "@agentloop/humanloop"
import { LettaModel } from "@agentloop/letta"
import { FakeHerokuInference, FakeHumanloop, FakeLetta, FakeToolhouse, Harness, ScriptedModel } from "@agentloop/testing"
import { ToolhouseModel } from "@agentloop/toolhouse"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted, type Scope, Stream } from "effect"

const S = ScriptedModel
const QUESTION = "What's the weather in Oslo?"
const ANSWER = "It is 5C in Oslo."
const RESULT = "Oslo: 5C, rain"
const retry = { baseDelay: "5 millis" } as const

/** The application: it knows only AgentBackend. */
const app = Effect.gen(function* () {
  const backend = yield* AgentBackend.AgentBackend
  const events = (yield* Stream.runCollect(backend.stream({ input: QUESTION }))) as Array<AgentEvent.AgentEvent>
  const finished = events.at(-1)
  return {
    outcome: finished?._tag === "RunFinished" ? { tag: finished.outcome._tag, text: "text" in finished.outcome ? finished.outcome.text : "" } : undefined,
    toolCalls: events.flatMap((e) => (e._tag === "ToolCalled" ? [e.toolName] : [])),
    toolResults: events.flatMap((e) => (e._tag === "ToolResult" ? [e.content] : []))
  }
})

type Backend = Layer.Layer<AgentBackend.AgentBackend, AgentBackend.AgentError>
const serverSide = Layer.mergeAll(NodeHttpClient.layerUndici, Approval.layerAutoApprove, RunStore.layerMemory)
const noTools = () => Agent.make({ name: "weather", toolkit: Toolkit.make() })

/** Each backend, set up with its fake to play the same conversation. */
const backends: Record<string, (approvals?: Layer.Layer<Approval.Approvals>) => Effect.Effect<Backend, never, Scope.Scope>> = {
  local: (approvals) =>
    Effect.succeed(
      Harness.over(S.make([S.toolCall("get_weather", { city: "Oslo" }), S.text(ANSWER)]).layerUnchecked, approvals ? { approvals } : {}).layer
    ),
  "heroku chat completions": (approvals) =>
    Effect.map(FakeHerokuInference.make({ chat: [S.toolCall("get_weather", { city: "Oslo" }), S.text(ANSWER)] }), (fake) =>
      Harness.over(ChatModel.layer({ url: fake.url, key: Redacted.make(fake.key), model: fake.model, retry }), approvals ? { approvals } : {}).layer
    ),
  humanloop: (approvals) =>
    Effect.map(FakeHumanloop.make({ turns: [S.toolCall("get_weather", { city: "Oslo" }), S.text(ANSWER)] }), (fake) =>
      Harness.over(
        HumanloopModel.layer({ apiKey: Redacted.make(fake.apiKey), baseUrl: `${fake.url}/v5`, path: "Weather", agent: { model: "gpt-4o" }, retry }),
        approvals ? { approvals } : {}
      ).layer
    ),
  letta: (approvals) =>
    Effect.map(
      FakeLetta.make({ turns: [[{ kind: "client_tool", name: "get_weather", args: { city: "Oslo" } }], [{ kind: "assistant", text: ANSWER }]] }),
      (fake) => Harness.over(LettaModel.layer({ apiKey: Redacted.make(fake.apiKey), baseUrl: fake.url, agentId: fake.agentId, retry }), approvals ? { approvals } : {}).layer
    ),
  "heroku agents": () =>
    Effect.map(FakeHerokuInference.make({ agents: [FakeHerokuInference.agentToolRun({ tool: "mcp-weather/get_weather", args: { city: "Oslo" }, result: RESULT, answer: ANSWER })] }), (fake) =>
      AgentsModel.layerBackend(noTools(), { url: fake.url, key: Redacted.make(fake.key), model: fake.model, tools: [{ type: "mcp", name: "get_weather" }], retry }).pipe(
        Layer.provide(serverSide)
      )
    ),
  toolhouse: () =>
    Effect.map(
      FakeToolhouse.make({
        answers: [
          [
            { type: "tool_call", id: "t1", name: "get_weather", input: { city: "Oslo" } },
            { type: "tool_result", tool_call_id: "t1", name: "get_weather", output: RESULT },
            { type: "text", text: ANSWER }
          ]
        ]
      }),
      (fake) => ToolhouseModel.layerBackend(noTools(), { baseUrl: fake.url, agentId: fake.agentId, retry }).pipe(Layer.provide(serverSide))
    )
}

describe("one app, every backend", () => {
  for (const [name, make] of Object.entries(backends)) {
    it.live(`${name}: the weather question ends the same way`, () =>
      Effect.gen(function* () {
        const result = yield* app.pipe(Effect.provide(yield* make()))
        expect(result).toEqual({ outcome: { tag: "Completed", text: ANSWER }, toolCalls: ["get_weather"], toolResults: [RESULT] })
      })
    )
  }

  it.live("an agent whose tool needs approval: suspended and resumed where supported, refused before any request elsewhere", () =>
    Effect.gen(function* () {
      const results: Record<string, string> = {}
      for (const [name, make] of Object.entries({
        local: () =>
          Effect.succeed(Harness.over(S.make([S.toolCall("set_alarm", { time: "07:00" }), S.text("Set.")]).layerUnchecked, { approvals: Approval.layerSuspend() }).layer),
        "heroku chat completions": () =>
          Effect.map(FakeHerokuInference.make({ chat: [S.toolCall("set_alarm", { time: "07:00" }), S.text("Set.")] }), (fake) =>
            Harness.over(ChatModel.layer({ url: fake.url, key: Redacted.make(fake.key), model: fake.model, retry }), { approvals: Approval.layerSuspend() }).layer
          ),
        humanloop: () =>
          Effect.map(FakeHumanloop.make({ turns: [S.toolCall("set_alarm", { time: "07:00" }), S.text("Set.")] }), (fake) =>
            Harness.over(
              HumanloopModel.layer({ apiKey: Redacted.make(fake.apiKey), baseUrl: `${fake.url}/v5`, path: "Alarm", agent: { model: "gpt-4o" }, retry }),
              { approvals: Approval.layerSuspend() }
            ).layer
          ),
        letta: () =>
          Effect.map(FakeLetta.make({ turns: [[{ kind: "client_tool", name: "set_alarm", args: { time: "07:00" } }], [{ kind: "assistant", text: "Set." }]] }), (fake) =>
            Harness.over(LettaModel.layer({ apiKey: Redacted.make(fake.apiKey), baseUrl: fake.url, agentId: fake.agentId, retry }), { approvals: Approval.layerSuspend() }).layer
          ),
        "heroku agents": () =>
          Effect.map(FakeHerokuInference.make(), (fake) =>
            AgentsModel.layerBackend(Agent.make({ name: "a", toolkit: Harness.toolkit }), { url: fake.url, key: Redacted.make(fake.key), model: fake.model, tools: [] }).pipe(
              Layer.provide(Layer.merge(serverSide, Harness.handlers([])))
            )
          ),
        toolhouse: () =>
          Effect.map(FakeToolhouse.make(), (fake) =>
            ToolhouseModel.layerBackend(Agent.make({ name: "a", toolkit: Harness.toolkit }), { baseUrl: fake.url, agentId: fake.agentId }).pipe(
              Layer.provide(Layer.merge(serverSide, Harness.handlers([])))
            )
          )
      } satisfies Record<string, () => Effect.Effect<Backend, never, Scope.Scope>>)) {
        const layer = yield* make()
        const outcome = yield* Effect.gen(function* () {
          const backend = yield* AgentBackend.AgentBackend
          const first = yield* backend.run({ input: "Wake me at 7" })
          if (first._tag !== "Suspended") return `not suspended: ${first._tag}`
          const done = yield* backend.resume(first.runId, first.pending.map((p) => Approval.approve(p, { by: "me" })))
          return `${first._tag} -> ${done._tag}`
        }).pipe(
          Effect.provide(layer),
          Effect.catchTag("UnsupportedCapability", (e) => Effect.succeed(`refused: ${e.capability}`))
        )
        results[name] = outcome
      }
      expect(results).toEqual({
        local: "Suspended -> Completed",
        "heroku chat completions": "Suspended -> Completed",
        humanloop: "Suspended -> Completed",
        letta: "Suspended -> Completed",
        "heroku agents": "refused: clientTools",
        toolhouse: "refused: clientTools"
      })
    }))
})
