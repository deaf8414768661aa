import { Agent, AgentBackend, Approval, Message, RunStore, Toolkit } from "@agentloop/core"
import { AgentsModel } from "@agentloop/heroku"
import { FakeHerokuInference, Harness } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Stream } from "effect"

const tools: ReadonlyArray<AgentsModel.HerokuTool> = [
  { type: "mcp", name: "code_exec_python", runtime_params: { max_calls: 2 } },
  { type: "heroku_tool", name: "dyno_run_command", runtime_params: { target_app_name: "my-app", tool_params: { cmd: "date", description: "server time", parameters: { type: "object", properties: {} } } } }
]

const options = (fake: FakeHerokuInference.FakeHerokuInference): AgentsModel.Options => ({
  url: fake.url,
  key: Redacted.make(fake.key),
  model: fake.model,
  tools,
  retry: { baseDelay: "5 millis" }
})
const services = Layer.mergeAll(NodeHttpClient.layerUndici, Approval.layerAutoApprove, RunStore.layerMemory)

const backend = (fake: FakeHerokuInference.FakeHerokuInference) =>
  AgentsModel.layerBackend(Agent.make({ name: "heroku-agent", toolkit: Toolkit.make() }), options(fake)).pipe(Layer.provide(services))

const collect = (input: string | ReadonlyArray<Message.Message>, runId?: string) =>
  Effect.flatMap(AgentBackend.AgentBackend, (b) => Stream.runCollect(b.stream({ input, ...(runId === undefined ? {} : { runId }) })))

describe("AgentsModel (/v1/agents/heroku)", () => {
  it.live("maps chat.completion / tool.completion events; namespaced names come back as requested", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make({
        agents: [
          FakeHerokuInference.agentToolRun({
            tool: "mcp-python/code_exec_python",
            args: { code: "print(1+1)" },
            result: '{"returncode":0,"stdout":"2"}',
            intro: "I'll run Python.",
            answer: "The result is 2."
          })
        ]
      })
      const events = yield* collect("What is 1+1 in Python?").pipe(Effect.provide(backend(fake)))
      expect(events.filter((e) => e._tag === "ToolCalled" || e._tag === "ToolResult")).toMatchObject([
        { _tag: "ToolCalled", toolName: "code_exec_python", arguments: { code: "print(1+1)" }, remote: true },
        { _tag: "ToolResult", toolName: "code_exec_python", content: '{"returncode":0,"stdout":"2"}', isError: false, remote: true }
      ])
      expect(events.at(-1)).toMatchObject({ outcome: { _tag: "Completed", text: "I'll run Python.The result is 2.", steps: 1 } })
      const usage = events.find((e) => e._tag === "UsageReported") as { usage: Message.Usage }
      expect(usage.usage.totalTokens).toBe(792 + 1009)
      const body = fake.requests[0]!.body
      expect(body).toMatchObject({ model: "claude-4-sonnet", messages: [{ role: "user", content: "What is 1+1 in Python?" }] })
      expect(body.tools).toEqual(tools)
      expect(fake.requests[0]!.headers["authorization"]).toBe("Bearer inference-key")
    }))

  it.live("continues a conversation by resending the history, remote calls included", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make({
        agents: [
          FakeHerokuInference.agentToolRun({ tool: "dyno_run_command", args: {}, result: "Mon Nov 23", answer: "It's Monday.", mcp: false }),
          FakeHerokuInference.agentAnswer("You're welcome.")
        ]
      })
      yield* Effect.gen(function* () {
        const b = yield* AgentBackend.AgentBackend
        yield* b.run({ input: "What day is it on the server?", runId: "conv" })
        const state = Option.getOrThrow(yield* b.getRun("conv"))
        yield* b.run({ input: [...state.messages, Message.user("thanks")] })
      }).pipe(Effect.provide(backend(fake)))
      const messages = fake.requests[1]!.body.messages
      expect(messages.map((m: { role: string }) => m.role)).toEqual(["user", "assistant", "tool", "assistant", "user"])
      expect(messages[2]).toMatchObject({ role: "tool", content: "Mon Nov 23" })
      expect(messages[3]).toEqual({ role: "assistant", content: "It's Monday." })
    }))

  it.live("refuses client tools before any request: Heroku runs only its own tools", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make()
      const error = yield* Effect.flip(
        Effect.provide(
          AgentBackend.AgentBackend,
          AgentsModel.layerBackend(Agent.make({ name: "with-client-tools", toolkit: Harness.toolkit }), options(fake)).pipe(
            Layer.provide(Layer.merge(services, Harness.handlers([])))
          )
        )
      )
      expect(error).toMatchObject({ _tag: "UnsupportedCapability", backend: "heroku-agents", capability: "clientTools" })
      expect(fake.requests).toHaveLength(0)
    }))

  it.live("a stream cut mid-way fails the step with a ModelError that is not retryable (Heroku may have run the tool)", () =>
    Effect.gen(function* () {
      const full = FakeHerokuInference.agentToolRun({ tool: "code_exec_python", args: {}, result: "1", answer: "done" })
      const fake = yield* FakeHerokuInference.make({ agents: [{ ...full, dropAfter: 1 }] })
      const error = yield* Effect.flip(collect("x").pipe(Effect.provide(backend(fake))))
      expect(error).toMatchObject({ _tag: "ModelError", retryable: false, reason: "transport" })
    }))

  it.live("event:error fails the step with the server's message; unknown events and malformed data are kept as Raw", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make({
        agents: [
          {
            frames: [
              { event: "heartbeat", data: "{}" },
              { event: "message", data: { object: "agent.status", state: "thinking" } },
              { event: "message", data: "{truncated json" },
              { event: "error", data: { message: "tool quota exceeded" } }
            ]
          }
        ]
      })
      const events: Array<unknown> = []
      const error = yield* Effect.flip(
        Effect.flatMap(AgentBackend.AgentBackend, (b) => Stream.runForEach(b.stream({ input: "x" }), (e) => Effect.sync(() => events.push(e)))).pipe(
          Effect.provide(backend(fake))
        )
      )
      expect(error).toMatchObject({ _tag: "ModelError", message: "heroku agents stream error: tool quota exceeded" })
      expect(events.filter((e: any) => e._tag === "Raw")).toMatchObject([
        { source: "heroku", data: { event: "heartbeat", data: {} } },
        { source: "heroku", data: { event: "message", data: { object: "agent.status" } } },
        { source: "heroku", data: { event: "message", malformed: "{truncated json" } }
      ])
    }))

  it("unwraps an MCP CallToolResult and maps namespaced names", () => {
    expect(AgentsModel.toolResultText(`Tool 'x' returned result: {"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"isError":true}`)).toEqual({
      text: "ab",
      isError: true
    })
    expect(AgentsModel.toolResultText("plain")).toEqual({ text: "plain", isError: false })
    expect(AgentsModel.requestedName("mcp-python/code_exec_python", ["code_exec_python"])).toBe("code_exec_python")
    expect(AgentsModel.requestedName("other/thing", ["code_exec_python"])).toBe("other/thing")
  })
})
