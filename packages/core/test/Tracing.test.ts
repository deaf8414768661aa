import { AgentBackend, Approval, Loop, RunStore, Tracing } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { agent, makeHandlers } from "./fixtures.js"

const SECRET = "sk-planted-secret-7f3a"

const traced = (options: { recordContent?: boolean; tracing?: boolean }) => {
  const exporter = new InMemorySpanExporter()
  const model = ScriptedModel.make([
    ScriptedModel.toolCalls([
      { name: "echo", args: { text: SECRET }, id: "call_echo" },
      { name: "deploy", args: { version: "1.2.3" }, id: "call_deploy" }
    ], { usage: { inputTokens: 30, outputTokens: 10 } }),
    ScriptedModel.text(`done ${SECRET}`, { usage: { inputTokens: 50, outputTokens: 5 } })
  ])
  const handlers = makeHandlers()
  const backend = AgentBackend.layerLocal(agent()).pipe(
    Layer.provide(
      Layer.mergeAll(
        model.layerUnchecked,
        handlers.layer,
        Approval.layerPolicy(() => Approval.Verdict.approved({ by: "ops-lead" })),
        RunStore.layerMemory,
        options.tracing === false ? Layer.empty : Tracing.layer({ recordContent: options.recordContent ?? false, model: "claude-4-sonnet", provider: "heroku" })
      )
    )
  )
  const otel = NodeSdk.layer(() => ({ resource: { serviceName: "tracing-test" }, spanProcessor: new SimpleSpanProcessor(exporter) }))
  // Spans are read before the SDK shuts down (the in-memory exporter forgets them on shutdown).
  const program = Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "ship it", runId: "run_traced" })).pipe(
    Effect.withSpan("app request"),
    Effect.provide(backend),
    Effect.map((outcome) => ({ outcome, spans: exporter.getFinishedSpans() })),
    Effect.provide(otel)
  )
  return { exporter, program, handlers }
}

const byName = (spans: ReadonlyArray<ReadableSpan>, name: string) => {
  const found = spans.filter((s) => s.name === name)
  expect(found, `span ${name}`).toHaveLength(1)
  return found[0]!
}
const parentId = (span: ReadableSpan) => span.parentSpanContext?.spanId

describe("Tracing", () => {
  it.effect("emits invoke_agent, chat and execute_tool spans with GenAI attributes, parented under the caller's span", () =>
    Effect.gen(function* () {
      const { outcome, spans } = yield* traced({}).program
      expect(outcome._tag).toBe("Completed")
      const app = byName(spans, "app request")
      const run = byName(spans, "invoke_agent test-agent")
      expect(parentId(run)).toBe(app.spanContext().spanId)
      expect(run.attributes).toMatchObject({
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "test-agent",
        "gen_ai.conversation.id": "run_traced",
        "agentloop.outcome": "Completed",
        "gen_ai.usage.input_tokens": 80,
        "gen_ai.usage.output_tokens": 15
      })
      const chats = spans.filter((s) => s.name === "chat claude-4-sonnet")
      expect(chats).toHaveLength(2)
      for (const chat of chats) expect(parentId(chat)).toBe(run.spanContext().spanId)
      const [first, second] = [...chats].sort((a, b) => Number(a.attributes["agentloop.step"]) - Number(b.attributes["agentloop.step"]))
      expect(first!.attributes).toMatchObject({
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-4-sonnet",
        "gen_ai.provider.name": "heroku",
        "gen_ai.usage.input_tokens": 30,
        "gen_ai.usage.output_tokens": 10,
        "gen_ai.response.finish_reasons": ["tool_calls"]
      })
      expect(second!.attributes).toMatchObject({ "gen_ai.usage.input_tokens": 50, "gen_ai.response.finish_reasons": ["stop"] })
      const echo = byName(spans, "execute_tool echo")
      const deploy = byName(spans, "execute_tool deploy")
      for (const tool of [echo, deploy]) expect(parentId(tool)).toBe(run.spanContext().spanId)
      expect(echo.attributes).toMatchObject({ "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "echo", "gen_ai.tool.call.id": "call_echo", "gen_ai.tool.type": "function" })
      expect(deploy.attributes).toMatchObject({ "gen_ai.tool.name": "deploy", "gen_ai.tool.call.id": "call_deploy" })
      const decided = deploy.events.find((e) => e.name === "approval.decided")
      expect(decided?.attributes).toMatchObject({ "agentloop.approval.approved": true, "agentloop.approval.decided_by": "ops-lead" })
      // No contents unless asked for: the planted secret (a tool argument, result and answer) appears nowhere.
      expect(JSON.stringify(spans.map((s) => ({ a: s.attributes, e: s.events })))).not.toContain(SECRET)
    }))

  it.effect("records tool arguments, results and answer text only with recordContent", () =>
    Effect.gen(function* () {
      const { spans } = yield* traced({ recordContent: true }).program
      expect(byName(spans, "execute_tool echo").attributes).toMatchObject({
        "gen_ai.tool.call.arguments": JSON.stringify({ text: SECRET }),
        "gen_ai.tool.call.result": SECRET
      })
      expect(spans.some((s) => s.attributes["gen_ai.output.text"] === `done ${SECRET}`)).toBe(true)
    }))

  it.effect("counts tokens and tool calls, and records tool durations", () =>
    Effect.gen(function* () {
      const agentName = { "gen_ai.agent.name": "test-agent" }
      const input = Tracing.tokenUsage.pipe(Metric.withAttributes({ ...agentName, "gen_ai.token.type": "input" }))
      const okEcho = Tracing.toolCalls.pipe(Metric.withAttributes({ ...agentName, "gen_ai.tool.name": "echo", outcome: "ok" }))
      const echoDuration = Tracing.toolDuration.pipe(Metric.withAttributes({ ...agentName, "gen_ai.tool.name": "echo" }))
      const before = { tokens: (yield* Metric.value(input)).count, calls: (yield* Metric.value(okEcho)).count, durations: (yield* Metric.value(echoDuration)).count }
      yield* traced({}).program
      expect((yield* Metric.value(input)).count - before.tokens).toBe(80)
      expect((yield* Metric.value(okEcho)).count - before.calls).toBe(1)
      expect((yield* Metric.value(echoDuration)).count - before.durations).toBe(1)
    }))

  it.effect("without the layer, no agent span is made (only the caller's)", () =>
    Effect.gen(function* () {
      const { spans } = yield* traced({ tracing: false }).program
      expect(spans.map((s) => s.name)).toEqual(["app request"])
    }))

  it.effect("a suspended run's pending call is ended and marked pending; Loop.run is traced too", () =>
    Effect.gen(function* () {
      const exporter = new InMemorySpanExporter()
      const model = ScriptedModel.make([ScriptedModel.toolCall("deploy", { version: "9" }, { id: "call_9" })])
      const { outcome, spans } = yield* Loop.run(agent(), { input: "deploy 9" }).pipe(
        Effect.provide(
          Layer.mergeAll(model.layerUnchecked, makeHandlers().layer, Approval.layerSuspend(), RunStore.layerMemory, Tracing.layer())
        ),
        Effect.map((outcome) => ({ outcome, spans: exporter.getFinishedSpans() })),
        Effect.provide(NodeSdk.layer(() => ({ resource: { serviceName: "t" }, spanProcessor: new SimpleSpanProcessor(exporter) })))
      )
      expect(outcome._tag).toBe("Suspended")
      const deploy = byName(spans, "execute_tool deploy")
      expect(deploy.attributes["agentloop.tool.pending"]).toBe(true)
      expect(deploy.events.map((e) => e.name)).toEqual(["approval.requested"])
      expect(byName(spans, "invoke_agent test-agent").attributes["agentloop.approvals.pending"]).toBe(1)
    }))
})
