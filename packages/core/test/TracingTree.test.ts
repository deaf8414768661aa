/**
 * Traces of multi-agent runs (issue 25): the run's `invoke_agent` span is the current span for everything the
 * run does, so model calls, the spans tool handlers open and sub-agents' runs nest under it; the exported tree is
 * asserted whole for a three-level sub-agent run and for a handoff; no approval id, error text or planted secret
 * leaves through any span; and every exported span follows the OpenTelemetry GenAI semantic conventions.
 */
import { Agent, AgentBackend, Approval, Handoff, LanguageModel, RunStore, SubAgent, Tool, Toolkit, Tracing } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Schema, Stream } from "effect"
import { conventionProblems, renderTree } from "./support/genaiConventions.js"

const tracingOptions = { model: "m1", provider: "heroku" } as const

/** A model whose every step opens a span of its own (as an HTTP client or effect/ai's LanguageModel does). */
const withOwnSpans = (scripted: Layer.Layer<LanguageModel.LanguageModel>) =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.map(LanguageModel.LanguageModel, (model) => ({ streamStep: (request: LanguageModel.ModelRequest) => Stream.withSpan(model.streamStep(request), "provider.request") }))
  ).pipe(Layer.provide(scripted))

/** Runs `program` under an OpenTelemetry SDK with an in-memory exporter; the spans are read before it shuts down. */
const exported = <A, E>(program: Effect.Effect<A, E>) => {
  const exporter = new InMemorySpanExporter()
  return program.pipe(
    Effect.withSpan("app request"),
    Effect.exit,
    Effect.map((exit) => ({ exit, spans: exporter.getFinishedSpans() })),
    Effect.provide(NodeSdk.layer(() => ({ resource: { serviceName: "tracing-tree" }, spanProcessor: new SimpleSpanProcessor(exporter) })))
  )
}

const agentOf = (s: ReadableSpan) => (s.attributes["gen_ai.operation.name"] === undefined ? "" : `[${String(s.attributes["gen_ai.agent.name"] ?? "")}]`)

describe("Tracing: the run's span is current for everything the run does", () => {
  it.effect("three levels of sub-agents: chat, tools, the handler's own span and each sub-agent's run nest where they happen", () =>
    Effect.gen(function* () {
      const Measure = Tool.make("measure", { description: "Measure.", parameters: { what: Schema.String }, success: Schema.String })
      const measureTools = Toolkit.make(Measure)
      const leaf = Agent.make({ name: "leaf", instructions: "Measure things.", toolkit: measureTools })
      const leafTool = SubAgent.asTool(leaf, { description: "Measures." })
      const middle = Agent.make({ name: "middle", instructions: "Delegate measuring.", toolkit: leafTool.toolkit })
      const middleTool = SubAgent.asTool(middle, { description: "Plans measuring." })
      const top = Agent.make({ name: "top", instructions: "Answer.", toolkit: middleTool.toolkit })
      const model = S.make([
        S.toolCall("middle", { input: "measure the room" }, { id: "c_top" }),
        S.toolCall("leaf", { input: "measure the wall" }, { id: "c_mid" }),
        S.toolCall("measure", { what: "wall" }, { id: "c_leaf" }),
        S.text("3 m"),
        S.text("the wall is 3 m"),
        S.text("The room's wall is 3 m.")
      ])
      const shared = Layer.mergeAll(withOwnSpans(model.layer), RunStore.layerMemory, Approval.layerAutoApprove, Tracing.layer(tracingOptions))
      const leafLayer = leafTool.layer.pipe(
        Layer.provide(Layer.merge(shared, measureTools.toLayer({ measure: ({ what }) => Effect.withSpan(Effect.succeed(`${what}: 3 m`), "measure.db_query") })))
      )
      const middleLayer = middleTool.layer.pipe(Layer.provide(Layer.merge(shared, leafLayer)))
      const backend = AgentBackend.layerLocal(top).pipe(Layer.provide(Layer.merge(shared, middleLayer)))
      const { exit, spans } = yield* exported(Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "How big is the room?" })).pipe(Effect.provide(backend)))
      expect(exit).toMatchObject({ _tag: "Success", value: { _tag: "Completed" } })
      expect(renderTree(spans, agentOf)).toBe(
        [
          "app request",
          "  invoke_agent top [top]",
          "    chat m1 [top]",
          "      provider.request",
          "    execute_tool middle [top]",
          "      invoke_agent middle [middle]",
          "        chat m1 [middle]",
          "          provider.request",
          "        execute_tool leaf [middle]",
          "          invoke_agent leaf [leaf]",
          "            chat m1 [leaf]",
          "              provider.request",
          "            execute_tool measure [leaf]",
          "              measure.db_query",
          "            chat m1 [leaf]",
          "              provider.request",
          "        chat m1 [middle]",
          "          provider.request",
          "    chat m1 [top]",
          "      provider.request"
        ].join("\n")
      )
      // One trace, and every GenAI span as the conventions describe it.
      expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1)
      expect(conventionProblems(spans, tracingOptions)).toEqual([])
      // Streamed steps say so (the model here streams).
      for (const chat of spans.filter((s) => s.name === "chat m1")) expect(chat.attributes["gen_ai.request.stream"]).toBe(true)
    }))

  it.effect("a handoff: one invoke_agent span; the target's chat and tool spans (and its handler's own) under it, each naming its agent", () =>
    Effect.gen(function* () {
      const Lookup = Tool.make("lookup_order", { description: "Look up.", parameters: { orderId: Schema.String }, success: Schema.String })
      const Refund = Tool.make("refund", { description: "Refund.", parameters: { orderId: Schema.String }, success: Schema.String })
      const triageTools = Toolkit.make(Lookup)
      const billingTools = Toolkit.make(Refund)
      const billing = Agent.make({ name: "billing", instructions: "Refunds.", toolkit: billingTools })
      const triage = Agent.make({ name: "triage", instructions: "Routes.", toolkit: triageTools, handoffs: [Handoff.make(billing, { inputFilter: Handoff.removeToolCalls })] })
      const model = S.make([
        S.toolCall("lookup_order", { orderId: "42" }, { id: "c1" }),
        S.toolCall("transfer_to_billing", {}, { id: "c2" }),
        S.toolCall("refund", { orderId: "42" }, { id: "c3" }),
        S.text("Refunded.")
      ])
      const backend = AgentBackend.layerLocal(triage).pipe(
        Layer.provide(
          Layer.mergeAll(
            withOwnSpans(model.layer),
            RunStore.layerMemory,
            Approval.layerAutoApprove,
            Tracing.layer(tracingOptions),
            triageTools.toLayer({ lookup_order: ({ orderId }) => Effect.succeed(`order ${orderId}`) }),
            billingTools.toLayer({ refund: ({ orderId }) => Effect.withSpan(Effect.succeed(`refunded ${orderId}`), "ledger.write") })
          )
        )
      )
      const { exit, spans } = yield* exported(Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "refund 42" })).pipe(Effect.provide(backend)))
      expect(exit).toMatchObject({ _tag: "Success", value: { _tag: "Completed", agent: "billing" } })
      expect(renderTree(spans, agentOf)).toBe(
        [
          "app request",
          "  invoke_agent triage [triage]",
          "    chat m1 [triage]",
          "      provider.request",
          "    execute_tool lookup_order [triage]",
          "    chat m1 [triage]",
          "      provider.request",
          "    execute_tool transfer_to_billing [triage]",
          "    chat m1 [billing]",
          "      provider.request",
          "    execute_tool refund [billing]",
          "      ledger.write",
          "    chat m1 [billing]",
          "      provider.request"
        ].join("\n")
      )
      const run = spans.find((s) => s.name === "invoke_agent triage")!
      expect(run.events.map((e) => [e.name, e.attributes])).toEqual([["agent.handoff", { "agentloop.handoff.from": "triage", "agentloop.handoff.to": "billing", "gen_ai.tool.call.id": "c2" }]])
      expect(conventionProblems(spans, tracingOptions)).toEqual([])
    }))
})

describe("Tracing: nothing secret leaves through a span", () => {
  const SECRET = "sk-planted-7c1e5d"
  const Deploy = Tool.make("deploy", { description: "Deploy.", parameters: { version: Schema.String, token: Schema.String }, success: Schema.String, requiresApproval: true })
  const Lookup = Tool.make("lookup", { description: "Look up.", parameters: { key: Schema.String }, success: Schema.String, failure: Schema.Struct({ message: Schema.String }) })
  const tools = Toolkit.make(Deploy, Lookup)
  const agent = Agent.make({ name: "ops", instructions: `Ops. Internal key: ${SECRET}`, toolkit: tools })
  const handlers = tools.toLayer({
    deploy: ({ version }) => Effect.succeed(`deployed ${version} with ${SECRET}`),
    lookup: ({ key }) => (key === "fail" ? Effect.fail({ message: `db said ${SECRET}` }) : key === "die" ? Effect.die(new Error(`boom ${SECRET}`)) : Effect.succeed(`value ${SECRET}`))
  })
  /** Every exported span as text: names, attributes, events, status, links. */
  const dump = (spans: ReadonlyArray<ReadableSpan>) =>
    JSON.stringify(spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status, links: s.links })))

  it.live("tool arguments, results and failures, the answer, the prompt, approval ids and reasons, a model error page and an expired approval's error: none in any span", () =>
    Effect.gen(function* () {
      const model = S.make([
        S.toolCalls([
          { name: "lookup", args: { key: SECRET }, id: "l1" },
          { name: "lookup", args: { key: "fail" }, id: "l2" },
          { name: "lookup", args: { key: "die" }, id: "l3" },
          { name: "deploy", args: { version: "1", token: SECRET }, id: "d1" },
          { name: "deploy", args: { version: "2", token: SECRET }, id: "d2" }
        ]),
        S.text(`done ${SECRET}`),
        // The second run: the provider answers with an error page holding the key.
        S.error(`upstream 500: <html>invalid key ${SECRET}</html>`)
      ])
      // d1's approval expires after 20 ms; d2's waits.
      const approvals = Approval.layerPolicy((request) => Approval.Verdict.suspend(request.toolCallId === "d1" ? { expiresIn: "20 millis" } : {}))
      const shared = Layer.mergeAll(model.layerUnchecked, RunStore.layerMemory, approvals, Tracing.layer(tracingOptions), handlers)
      const backend = AgentBackend.layerLocal(agent).pipe(Layer.provide(shared))
      const approvalIds: Array<string> = []
      const { spans } = yield* exported(
        Effect.gen(function* () {
          const b = yield* AgentBackend.AgentBackend
          const first = yield* b.run({ input: `deploy with ${SECRET}`, runId: "run_secret" })
          if (first._tag !== "Suspended") throw new Error(`expected Suspended, got ${first._tag}`)
          approvalIds.push(...first.pending.map((p) => p.approvalId))
          yield* Effect.sleep("40 millis")
          // A decision after the expiry: the resume fails with ApprovalExpired, whose message names the approval id.
          const late = yield* Effect.exit(b.resume(first.runId, [Approval.approve(first.pending.find((p) => p.toolCallId === "d1")!)]))
          const d1 = first.pending.find((p) => p.toolCallId === "d1")!
          expect(late).toMatchObject({ _tag: "Failure", cause: { reasons: [{ error: { _tag: "ApprovalExpired", approvalId: d1.approvalId } }] } })
          expect(Exit.isFailure(late) && Cause.pretty(late.cause).includes(d1.approvalId)).toBe(true)
          // Then d2 is denied with a reason holding the key (d1 is denied by its expiry), and the run completes.
          const deny = Approval.deny(first.pending.find((p) => p.toolCallId === "d2")!, `no: ${SECRET}`, { by: "ops-lead" })
          const second = yield* b.resume(first.runId, [deny])
          expect(second._tag).toBe("Completed")
          // A run whose model fails with the key in its error page.
          const failed = yield* Effect.exit(b.run({ input: "again" }))
          expect(Exit.isFailure(failed) && JSON.stringify(failed).includes(SECRET)).toBe(true)
        }).pipe(Effect.provide(backend))
      )
      expect(approvalIds).toHaveLength(2)
      const text = dump(spans)
      expect(text).not.toContain(SECRET)
      for (const id of approvalIds) expect(text).not.toContain(id)
      expect(text).not.toContain("apr_")
      // The failures are still visible, by type only.
      const failedRuns = spans.filter((s) => s.name === "invoke_agent ops" && s.status.code === 2)
      expect(failedRuns.map((s) => s.attributes["error.type"]).sort()).toEqual(["ApprovalExpired", "ModelError"])
      expect(spans.find((s) => s.name === "execute_tool lookup" && s.attributes["gen_ai.tool.call.id"] === "l2")?.attributes["error.type"]).toBe("ToolFailed")
      expect(spans.filter((s) => s.name === "execute_tool deploy").flatMap((s) => s.events.map((e) => e.name))).toEqual(
        expect.arrayContaining(["approval.requested", "approval.decided"])
      )
      expect(conventionProblems(spans, tracingOptions)).toEqual([])
    }))

  it.live("with recordContent the contents are recorded, but still no approval id and no error text", () =>
    Effect.gen(function* () {
      const model = S.make([S.toolCall("deploy", { version: "3", token: "t" }, { id: "d3" }), S.error(`upstream 500: ${SECRET}`)])
      const backend = AgentBackend.layerLocal(agent).pipe(
        Layer.provide(Layer.mergeAll(model.layerUnchecked, RunStore.layerMemory, Approval.layerSuspend(), Tracing.layer({ ...tracingOptions, recordContent: true }), handlers))
      )
      const ids: Array<string> = []
      const { spans } = yield* exported(
        Effect.gen(function* () {
          const b = yield* AgentBackend.AgentBackend
          const first = yield* b.run({ input: "deploy 3" })
          if (first._tag !== "Suspended") throw new Error("expected Suspended")
          ids.push(first.pending[0]!.approvalId)
          yield* Effect.exit(b.resume(first.runId, [Approval.approve(first.pending[0]!)]))
        }).pipe(Effect.provide(backend))
      )
      const text = dump(spans)
      expect(text).toContain(`deployed 3 with ${SECRET}`)
      expect(text).not.toContain(ids[0]!)
      expect(text).not.toContain(`upstream 500: ${SECRET}`)
      // gen_ai.output.text (effect/ai's name for the answer text) is not a registry name: only checked without contents.
      expect(conventionProblems(spans, { ...tracingOptions, registryOnly: false })).toEqual([])
    }))
})

describe("the GenAI conventions check itself", () => {
  it("names the problems of a span that breaks them", async () => {
    const exporter = new InMemorySpanExporter()
    const spans = await Effect.runPromise(
      Effect.void.pipe(
        Effect.withSpan("llm call", { kind: "internal", attributes: { "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": "12", "gen_ai.made.up": 1 } }),
        Effect.map(() => exporter.getFinishedSpans()),
        Effect.provide(NodeSdk.layer(() => ({ resource: { serviceName: "t" }, spanProcessor: new SimpleSpanProcessor(exporter) })))
      )
    )
    const problems = conventionProblems(spans, { model: "m1" })
    expect(problems.map((p) => p.replace(/^.*?\): /, ""))).toEqual([
      'the name should be "chat"',
      "the kind is INTERNAL, should be CLIENT",
      "required attribute gen_ai.provider.name is missing",
      "required attribute gen_ai.conversation.id is missing",
      "required attribute gen_ai.request.model is missing",
      "gen_ai.usage.input_tokens should be int, is string",
      "gen_ai.made.up is not a gen_ai attribute of the registry"
    ])
  })
})
