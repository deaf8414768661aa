/**
 * Handoffs through the public API: the conversation moves to the target agent (its instructions, tools,
 * rules), the history goes through the input filter, events name the agent speaking, and a run suspended
 * after a handoff resumes with the target, in this process and from the file store in a fresh runtime.
 */
import { Agent, AgentBackend, AgentEvent, Approval, Handoff, LanguageModel, Loop, Output, RunState, RunStore, Tool, Toolkit, ToolRule } from "@agentloop/core"
import { ChatModel } from "@agentloop/heroku"
import { FakeHerokuInference, ScriptedModel as S } from "@agentloop/testing"
import { NodeHttpClient, NodeServices } from "@effect/platform-node"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Option, Redacted, Schema, Stream } from "effect"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { backend, billing, billingTools, script, triage, triageTools } from "../examples/handoff-triage.js"

const run = (b: AgentBackend.Service, input: string, events: Array<AgentEvent.AgentEvent>) => b.run({ input }, { onEvent: (e) => void events.push(e) })
const speakers = (events: ReadonlyArray<AgentEvent.AgentEvent>) => events.flatMap((e) => (e._tag === "StepStarted" ? [e.agent] : []))

describe("handoffs (local backend, scripted model)", () => {
  it.effect("the target speaks with its own instructions and tools, over the history through the filter; events name the agent", () =>
    Effect.gen(function* () {
      const ran: Array<string> = []
      const model = S.make([
        ...script.untilApproval.slice(0, 2),
        S.respond((request) => {
          // Billing's instructions replace triage's; triage's tool calls and results are filtered out.
          expect(request.messages[0]).toEqual({ _tag: "SystemMessage", content: "You handle refunds. Hand back to triage when done." })
          expect(request.messages.slice(1)).toEqual([{ _tag: "UserMessage", content: "I want my $30 back for order 42" }])
          expect(request.tools).toEqual(["refund", "transfer_to_triage"])
          return S.text("Billing here: which card?")
        })
      ])
      const b = yield* Effect.provide(AgentBackend.AgentBackend, backend({ ran, model: model.layerUnchecked, store: RunStore.layerMemory }))
      const events: Array<AgentEvent.AgentEvent> = []
      const outcome = yield* run(b, "I want my $30 back for order 42", events)
      expect(outcome).toMatchObject({ _tag: "Completed", text: "Billing here: which card?" })
      yield* model.assertComplete
      expect(ran).toEqual(["lookup:42"])
      // Triage's first request offered its tools plus the handoff tool.
      expect(model.requests[0]!.tools).toEqual(["lookup_order", "transfer_to_billing"])
      expect(model.requests[0]!.messages[0]).toEqual({ _tag: "SystemMessage", content: "You route customer requests." })
      expect(events[0]).toMatchObject({ _tag: "RunStarted", agent: "triage" })
      expect(speakers(events)).toEqual(["triage", "triage", "billing"])
      const handedOff = events.filter((e) => e._tag === "HandedOff")
      expect(handedOff).toEqual([
        { _tag: "HandedOff", runId: outcome.runId, step: 2, from: "triage", to: "billing", toolCallId: "call_to_billing", toolName: "transfer_to_billing" }
      ])
      expect(events.find((e) => e._tag === "ToolResult" && e.toolName === "transfer_to_billing")).toMatchObject({ content: '{"assistant":"billing"}', isError: false })
      expect(events.map(AgentEvent.format)).toContain("handoff: triage -> billing (transfer_to_billing)")
      expect(events.map(AgentEvent.format)).toContain("step 3 [billing]: tools [refund, transfer_to_triage], tool choice auto")
      // The stored state says who is speaking; the run still belongs to triage.
      const state = Option.getOrThrow(yield* b.getRun(outcome.runId))
      expect(state).toMatchObject({ agent: "triage", currentAgent: "billing", handoffs: 1 })
      // Every event of a handoff run is a valid AgentEvent.
      for (const event of events) Schema.decodeUnknownSync(Schema.toType(AgentEvent.AgentEvent))(event)
    }))

  it.effect("backend.stream and resumeStream carry the same agent names and HandedOff events", () =>
    Effect.gen(function* () {
      const model = S.make([...script.untilApproval, ...script.afterApproval])
      const b = yield* Effect.provide(AgentBackend.AgentBackend, backend({ ran: [], model: model.layerUnchecked, store: RunStore.layerMemory }))
      const first = yield* Stream.runCollect(b.stream({ input: "refund 42" }))
      expect(speakers(first)).toEqual(["triage", "triage", "billing"])
      const finished = first.at(-1)!
      if (finished._tag !== "RunFinished" || finished.outcome._tag !== "Suspended") throw new Error("expected a suspended RunFinished")
      const second = yield* Stream.runCollect(b.resumeStream(finished.outcome.runId, [Approval.approve(finished.outcome.pending[0]!)]))
      expect(second[0]).toMatchObject({ _tag: "RunStarted", agent: "billing", resumed: true })
      expect(second.flatMap((e) => (e._tag === "HandedOff" ? [`${e.from}->${e.to}`] : []))).toEqual(["billing->triage"])
      expect(second.at(-1)).toMatchObject({ _tag: "RunFinished", outcome: { _tag: "Completed" } })
    }))

  it.effect("without a filter the target gets the whole history, its system message swapped", () =>
    Effect.gen(function* () {
      const target = Agent.make({ name: "target", instructions: "Target.", toolkit: Toolkit.make() })
      const source = Agent.make({ name: "source", instructions: "Source.", toolkit: triageTools, handoffs: [Handoff.make(target, { name: "escalate" })] })
      const model = S.make([
        S.toolCall("lookup_order", { orderId: "7" }, { id: "c1" }),
        S.toolCall("escalate", {}, { id: "c2" }),
        S.respond((request) => {
          expect(request.messages.map((m) => m._tag)).toEqual(["SystemMessage", "UserMessage", "AssistantMessage", "ToolMessage", "AssistantMessage", "ToolMessage"])
          expect(request.messages[0]).toEqual({ _tag: "SystemMessage", content: "Target." })
          expect(request.tools).toEqual([])
          return S.text("done")
        })
      ])
      const layer = AgentBackend.layerLocal(source).pipe(
        Layer.provide(Layer.mergeAll(model.layer, RunStore.layerMemory, Approval.layerSuspend(), triageTools.toLayer({ lookup_order: () => Effect.succeed("ok") })))
      )
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "hi" })).pipe(Effect.provide(layer))
      expect(outcome).toMatchObject({ _tag: "Completed", text: "done" })
    }))

  it.effect("an approval after a handoff: the run suspends with the target speaking and the resume goes on with it", () =>
    Effect.gen(function* () {
      const ran: Array<string> = []
      const model = S.make([...script.untilApproval, ...script.afterApproval])
      const b = yield* Effect.provide(AgentBackend.AgentBackend, backend({ ran, model: model.layerUnchecked, store: RunStore.layerMemory }))
      const events: Array<AgentEvent.AgentEvent> = []
      const first = yield* run(b, "I want my $30 back for order 42", events)
      if (first._tag !== "Suspended") throw new Error(`expected Suspended, got ${first._tag}`)
      // The pending approval names the agent that asked.
      expect(first.pending.map((p) => [p.toolName, p.toolCallId, p.agent])).toEqual([["refund", "call_refund", "billing"]])
      expect(Option.getOrThrow(yield* b.getRun(first.runId))).toMatchObject({ status: "suspended", agent: "triage", currentAgent: "billing" })
      const resumed: Array<AgentEvent.AgentEvent> = []
      const second = yield* b.resume(first.runId, [Approval.approve(first.pending[0]!)], { onEvent: (e) => void resumed.push(e) })
      expect(second).toMatchObject({ _tag: "Completed", text: "Your refund of $30 is on its way. Anything else?", steps: 5, agent: "triage" })
      expect(ran).toEqual(["lookup:42", "refund:42:30"])
      expect(resumed[0]).toMatchObject({ _tag: "RunStarted", resumed: true, agent: "billing" })
      expect(speakers(resumed)).toEqual(["billing", "triage"])
      // Handed back to the run's own agent: no current agent stored, two handoffs counted.
      const state = Option.getOrThrow(yield* b.getRun(first.runId))
      expect(state.currentAgent).toBeUndefined()
      expect(state.handoffs).toBe(2)
      // Triage speaks again with its own instructions and tools (and billing's turn kept in the history).
      const last = model.requests.at(-1)!
      expect(last.messages[0]).toEqual({ _tag: "SystemMessage", content: "You route customer requests." })
      expect(last.tools).toEqual(["lookup_order", "transfer_to_billing"])
      expect(last.messages.some((m) => m._tag === "ToolMessage" && m.toolName === "refund")).toBe(true)
    }))

  it.effect("file store: a run suspended after a handoff resumes with the target in a fresh runtime", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "handoff-"))
      try {
        const store = RunStore.layerFileSystem(dir).pipe(Layer.provide(NodeServices.layer))
        const ran: Array<string> = []
        const runtimeA = backend({ ran, model: S.make(script.untilApproval).layer, store })
        const first = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "refund 42", runId: "run_h" })).pipe(Effect.provide(runtimeA))
        if (first._tag !== "Suspended") throw new Error(`expected Suspended, got ${first._tag}`)
        const stored = JSON.parse(readFileSync(join(dir, "run_h.json"), "utf8")) as Record<string, unknown>
        expect(stored).toMatchObject({ agent: "triage", currentAgent: "billing", handoffs: 1, status: "suspended" })
        const decision = Approval.approve(first.pending[0]!, { by: "ops" })
        // A fresh runtime: new layers, runner, model and store instance over the same directory.
        const modelB = S.make([
          S.respond((request) => {
            // The model speaking after the restart is billing (its instructions and tools).
            expect(request.messages[0]).toMatchObject({ content: "You handle refunds. Hand back to triage when done." })
            expect(request.tools).toEqual(["refund", "transfer_to_triage"])
            return S.text("Refunded.")
          })
        ])
        const events: Array<AgentEvent.AgentEvent> = []
        const second = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.resume("run_h", [decision], { onEvent: (e) => void events.push(e) })).pipe(
          Effect.provide(backend({ ran, model: modelB.layer, store }))
        )
        expect(second).toMatchObject({ _tag: "Completed", text: "Refunded." })
        expect(ran).toEqual(["lookup:42", "refund:42:30"])
        expect(speakers(events)).toEqual(["billing"])
        yield* modelB.assertComplete
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }))

  it.effect("call_0 on every step, across a handoff whose filter drops the calls: each call its own idempotency key, also after a restart (file store)", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "handoff-"))
      try {
        const store = RunStore.layerFileSystem(dir).pipe(Layer.provide(NodeServices.layer))
        const keys: Array<string> = []
        const layer = (model: Layer.Layer<LanguageModel.LanguageModel>) =>
          AgentBackend.layerLocal(triage).pipe(
            Layer.provide(
              Layer.mergeAll(
                model,
                store,
                Approval.layerSuspend(),
                triageTools.toLayer({ lookup_order: ({ orderId }, ctx) => Effect.sync(() => (keys.push(`lookup ${ctx.idempotencyKey}`), `order ${orderId}: $30, paid`)) }),
                billingTools.toLayer({ refund: ({ orderId }, ctx) => Effect.sync(() => (keys.push(`refund ${ctx.idempotencyKey}`), `refunded ${orderId}`)) })
              )
            )
          )
        const first = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "refund 42", runId: "run_rep" })).pipe(
          Effect.provide(
            layer(
              S.make([
                S.toolCall("lookup_order", { orderId: "42" }, { id: "call_0" }),
                S.toolCall("transfer_to_billing", {}, { id: "call_0" }),
                S.toolCall("refund", { orderId: "42", amount: 30 }, { id: "call_0" })
              ]).layer
            )
          )
        )
        if (first._tag !== "Suspended") throw new Error(`expected Suspended, got ${first._tag}`)
        // Billing's history no longer shows triage's call_0: the run keeps the id as used.
        const stored = JSON.parse(readFileSync(join(dir, "run_rep.json"), "utf8")) as Record<string, unknown>
        expect(stored).toMatchObject({ currentAgent: "billing", handedOffCallIds: ["call_0"] })
        // A fresh runtime over the same directory takes the decision.
        const second = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.resume("run_rep", [Approval.approve(first.pending[0]!)])).pipe(
          Effect.provide(layer(S.make([S.text("Refunded.")]).layer))
        )
        expect(second).toMatchObject({ _tag: "Completed", text: "Refunded.", steps: 4 })
        expect(keys).toEqual(["lookup run_rep:call_0", "refund run_rep:3:call_0"])
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }))

  it.effect("20 rounds of two concurrent resumes after a handoff: exactly one wins, the refund runs once", () =>
    Effect.gen(function* () {
      for (let round = 0; round < 20; round++) {
        const ran: Array<string> = []
        // Both resumers share one store and one script: the loser makes no model request.
        const model = S.make([...script.untilApproval, ...script.afterApproval])
        const b = yield* Effect.provide(AgentBackend.AgentBackend, backend({ ran, model: model.layerUnchecked, store: RunStore.layerMemory }))
        const first = yield* b.run({ input: "refund 42", runId: `race_${round}` })
        if (first._tag !== "Suspended") throw new Error("expected Suspended")
        const decision = Approval.approve(first.pending[0]!)
        const results = yield* Effect.all([Effect.result(b.resume(first.runId, [decision])), Effect.result(b.resume(first.runId, [decision]))], { concurrency: 2 })
        expect(results.filter((r) => r._tag === "Success")).toHaveLength(1)
        expect(results.find((r) => r._tag === "Failure")).toMatchObject({ failure: { _tag: expect.stringMatching(/RunBusy|RunNotResumable/) } })
        expect(ran).toEqual(["lookup:42", "refund:42:30"])
        yield* model.assertComplete
      }
    }))

  it.effect("a chain A -> B -> C and C hands back to A; each target's rule history starts fresh", () =>
    Effect.gen(function* () {
      const Check = Tool.make("check", { description: "check", success: Schema.String })
      const cTools = Toolkit.make(Check)
      // C's init rule: its first call must be `check`, although tools were called before the handoff.
      const c = Agent.make({
        name: "c",
        instructions: "C.",
        toolkit: cTools,
        rules: [ToolRule.init("check")],
        handoffs: [Handoff.make((): Handoff.Target => a, { name: "back_to_a" })]
      })
      const b2 = Agent.make({ name: "b", instructions: "B.", toolkit: Toolkit.make(), handoffs: [Handoff.make(c)] })
      const a: Agent.Agent<{}, unknown, Tool.Handler<"check">> = Agent.make({ name: "a", instructions: "A.", toolkit: Toolkit.make(), handoffs: [Handoff.make(b2)] })
      const model = S.make([
        S.toolCall("transfer_to_b", {}, { id: "h1" }),
        S.toolCall("transfer_to_c", {}, { id: "h2" }),
        // The init rule refuses the hand back before `check`.
        S.toolCall("back_to_a", {}, { id: "h3" }),
        S.respond((request) => {
          expect(request.messages.at(-1)).toMatchObject({ _tag: "ToolMessage", toolName: "back_to_a", isError: true, content: expect.stringContaining("check") })
          return S.toolCall("check", {}, { id: "k1" })
        }),
        S.toolCall("back_to_a", {}, { id: "h4" }),
        S.text("A again.")
      ])
      const layer = AgentBackend.layerLocal(a).pipe(
        Layer.provide(Layer.mergeAll(model.layer, RunStore.layerMemory, Approval.layerSuspend(), cTools.toLayer({ check: () => Effect.succeed("fine") })))
      )
      const events: Array<AgentEvent.AgentEvent> = []
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (bk) => bk.run({ input: "go" }, { onEvent: (e) => void events.push(e) })).pipe(Effect.provide(layer))
      expect(outcome).toMatchObject({ _tag: "Completed", text: "A again." })
      expect(speakers(events)).toEqual(["a", "b", "c", "c", "c", "a"])
      expect(events.flatMap((e) => (e._tag === "HandedOff" ? [`${e.from}->${e.to}`] : []))).toEqual(["a->b", "b->c", "c->a"])
      expect(model.requests.at(-1)!.messages[0]).toEqual({ _tag: "SystemMessage", content: "A." })
    }))

  it.effect("past maxHandoffs the run stops with max_handoffs; several handoffs in one step: the first is taken", () =>
    Effect.gen(function* () {
      const x = Agent.make({ name: "x", toolkit: Toolkit.make(), handoffs: [Handoff.make((): Handoff.Target => y)] })
      const y = Agent.make({ name: "y", toolkit: Toolkit.make(), handoffs: [Handoff.make(x), Handoff.make((): Handoff.Target => z)] })
      const z = Agent.make({ name: "z", toolkit: Toolkit.make() })
      const root = Agent.make({ name: "root", toolkit: Toolkit.make(), maxHandoffs: 2, handoffs: [Handoff.make(x)] })
      const model = S.make([
        S.toolCall("transfer_to_x", {}, { id: "1" }),
        S.toolCalls([
          { name: "transfer_to_y", args: {}, id: "2" },
          { name: "transfer_to_y", args: {}, id: "2b" }
        ]),
        S.toolCalls([
          { name: "transfer_to_z", args: {}, id: "3" },
          { name: "transfer_to_x", args: {}, id: "4" }
        ])
      ])
      const layer = AgentBackend.layerLocal(root).pipe(Layer.provide(Layer.mergeAll(model.layer, RunStore.layerMemory, Approval.layerSuspend())))
      const events: Array<AgentEvent.AgentEvent> = []
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (bk) => bk.run({ input: "go" }, { onEvent: (e) => void events.push(e) })).pipe(Effect.provide(layer))
      expect(outcome).toMatchObject({ _tag: "Stopped", reason: "max_handoffs", detail: expect.stringContaining("limit of 2 handoff(s); y -> z was not taken") })
      const results = events.flatMap((e) => (e._tag === "ToolResult" ? [[e.toolCallId, e.isError]] : []))
      expect(results).toEqual([["1", false], ["2", false], ["2b", true], ["3", false], ["4", true]])
      expect(events.find((e) => e._tag === "ToolResult" && e.toolCallId === "2b")).toMatchObject({ content: expect.stringContaining("Only one handoff per step") })
    }))

  it.effect("a rule on the handoff tool applies like on any tool: requiresApproval suspends before the transfer", () =>
    Effect.gen(function* () {
      const target = Agent.make({ name: "target", instructions: "T.", toolkit: Toolkit.make() })
      const source = Agent.make({ name: "source", toolkit: Toolkit.make(), rules: [ToolRule.requiresApproval("transfer_to_target")], handoffs: [Handoff.make(target)] })
      const model = S.make([S.toolCall("transfer_to_target", {}, { id: "t1" }), S.text("target speaking")])
      const layer = AgentBackend.layerLocal(source).pipe(Layer.provide(Layer.mergeAll(model.layer, RunStore.layerMemory, Approval.layerSuspend())))
      yield* Effect.gen(function* () {
        const bk = yield* AgentBackend.AgentBackend
        const first = yield* bk.run({ input: "go" })
        if (first._tag !== "Suspended") throw new Error("expected Suspended")
        expect(first.pending[0]).toMatchObject({ toolName: "transfer_to_target" })
        expect(Option.getOrThrow(yield* bk.getRun(first.runId)).currentAgent).toBeUndefined()
        const events: Array<AgentEvent.AgentEvent> = []
        const second = yield* bk.resume(first.runId, [Approval.approve(first.pending[0]!)], { onEvent: (e) => void events.push(e) })
        expect(second).toMatchObject({ _tag: "Completed", text: "target speaking" })
        expect(events.filter((e) => e._tag === "HandedOff")).toHaveLength(1)
        expect(speakers(events)).toEqual(["target"])
      }).pipe(Effect.provide(layer))
    }))
})

describe("bad handoffs are typed errors", () => {
  const base = Layer.mergeAll(S.make([]).layerUnchecked, RunStore.layerMemory, Approval.layerSuspend())

  it.effect("a target that is not an agent (yet), or two handoffs with one tool name: InvalidHandoffs when the layer is built", () =>
    Effect.gen(function* () {
      const target = Agent.make({ name: "t", toolkit: Toolkit.make() })
      const undefinedTarget = Agent.make({ name: "a", toolkit: Toolkit.make(), handoffs: [Handoff.make(() => undefined as unknown as Handoff.Target)] })
      const clash = Agent.make({ name: "b", toolkit: Toolkit.make(), handoffs: [Handoff.make(target), Handoff.make(target)] })
      const sameName = Agent.make({ name: "c", toolkit: Toolkit.make(), handoffs: [Handoff.make(target), Handoff.make(Agent.make({ name: "t", toolkit: Toolkit.make() }), { name: "other" })] })
      const shadow = Agent.make({ name: "d", toolkit: triageTools, handoffs: [Handoff.make(target, { name: "lookup_order" })] })
      const build = (agent: Agent.Agent<any, any, never>) => Effect.flip(Layer.build(AgentBackend.layerLocal(agent as Agent.Agent<{}>).pipe(Layer.provide(base))).pipe(Effect.scoped))
      const e1 = yield* build(undefinedTarget)
      expect(e1).toMatchObject({ _tag: "InvalidHandoffs", agent: "a", problems: [expect.stringContaining("its target is not an agent (got undefined")] })
      expect((yield* build(clash))).toMatchObject({ _tag: "InvalidHandoffs", problems: [expect.stringContaining(`tool name "transfer_to_t" is used by another of its handoffs`)] })
      expect((yield* build(sameName))).toMatchObject({ _tag: "InvalidHandoffs", problems: [expect.stringContaining(`two different agents are named "t"`)] })
      expect((yield* build(shadow as never))).toMatchObject({ _tag: "InvalidHandoffs", problems: [expect.stringContaining(`"lookup_order" is already a tool of the agent`)] })
      expect(e1.message).toContain(`Agent "a": invalid handoffs`)
    }))

  it.effect("the targets' rules are validated at build too; rules may name handoff tools", () =>
    Effect.gen(function* () {
      const badTarget = Agent.make({ name: "t", toolkit: Toolkit.make(), rules: [ToolRule.terminal("nope")] })
      const source = Agent.make({ name: "s", toolkit: Toolkit.make(), handoffs: [Handoff.make(badTarget)] })
      expect(yield* Effect.flip(Loop.validateAgent(source))).toMatchObject({ _tag: "InvalidToolRules" })
      const good = Agent.make({ name: "g", toolkit: Toolkit.make(), rules: [ToolRule.terminal("transfer_to_t2")], handoffs: [Handoff.make(Agent.make({ name: "t2", toolkit: Toolkit.make() }))] })
      yield* Loop.validateAgent(good)
    }))

  it.effect("a backend without client tools refuses an agent with handoffs at build (UnsupportedCapability)", () =>
    Effect.gen(function* () {
      const source = Agent.make({ name: "s", toolkit: Toolkit.make(), handoffs: [Handoff.make(Agent.make({ name: "t", toolkit: Toolkit.make() }))] })
      const layer = AgentBackend.layerWith(source, { name: "hosted-loop", capabilities: { ...AgentBackend.localCapabilities, clientTools: false } })
      const error = yield* Effect.flip(Layer.build(layer.pipe(Layer.provide(base))).pipe(Effect.scoped))
      expect(error).toMatchObject({ _tag: "UnsupportedCapability", capability: "clientTools", reason: "the agent has handoffs" })
    }))

  it.effect("a target's handlers missing from the layer: MissingHandlers at build (and the compiler asks for them)", () =>
    Effect.gen(function* () {
      const layer = AgentBackend.layerLocal(triage)
      // The layer's requirements include billing's (and, through it, triage's) tool handlers.
      expectTypeOf<Tool.Handler<"refund">>().toMatchTypeOf<Layer.Services<typeof layer>>()
      expectTypeOf<Tool.Handler<"lookup_order">>().toMatchTypeOf<Layer.Services<typeof layer>>()
      const partial = Layer.mergeAll(base, triageTools.toLayer({ lookup_order: () => Effect.succeed("") }))
      // The compiler would refuse this layer: cast, to see what happens at runtime.
      const provided = layer.pipe(Layer.provide(partial)) as unknown as Layer.Layer<AgentBackend.AgentBackend, AgentBackend.AgentError>
      const error = yield* Effect.flip(Layer.build(provided).pipe(Effect.scoped))
      expect(error).toMatchObject({ _tag: "MissingHandlers", tools: ["refund"], agent: "billing" })
      expect(error.message).toContain("of agent billing's toolkit")
    }))

  it.effect("typed output with handoffs: Completed.agent names who answered; Output.ofAgent types by that agent's schema", () =>
    Effect.gen(function* () {
      const payer = Agent.make({ name: "payer", toolkit: Toolkit.make(), output: Schema.Struct({ refunded: Schema.Number }) })
      const router = Agent.make({ name: "router", toolkit: Toolkit.make(), output: Schema.Struct({ queue: Schema.String }), handoffs: [Handoff.make(payer)] })
      const model = S.make([S.toolCall("transfer_to_payer", {}, { id: "c1" }), S.text('{"refunded":30}'), S.text('{"queue":"billing"}')])
      const services = Layer.mergeAll(model.layerUnchecked, RunStore.layerMemory, Approval.layerSuspend())
      // Handed off: the answer is payer's, decoded by payer's schema.
      const handed = yield* Loop.run(router, { input: "refund me" }).pipe(Effect.provide(services))
      expect(handed).toMatchObject({ _tag: "Completed", agent: "payer", output: { refunded: 30 } })
      const refunded = Output.ofAgent(payer, handed)
      expectTypeOf(refunded).toEqualTypeOf<Option.Option<{ readonly refunded: number }>>()
      expect(refunded).toEqual(Option.some({ refunded: 30 }))
      expect(Output.ofAgent(router, handed)).toEqual(Option.none())
      // Not handed off: the starting agent answers, and says so.
      const kept = yield* Loop.run(router, { input: "route me" }).pipe(Effect.provide(services))
      expect(kept).toMatchObject({ _tag: "Completed", agent: "router", output: { queue: "billing" } })
      expect(Output.ofAgent(router, kept)).toEqual(Option.some({ queue: "billing" }))
      expect(Output.ofAgent(payer, kept)).toEqual(Option.none())
    }))

  it.effect("a stored run handed to an agent the runner's agent does not reach: RunNotResumable on resume", () =>
    Effect.gen(function* () {
      const store = yield* Layer.build(RunStore.layerMemory).pipe(Effect.map((ctx) => Layer.succeedContext(ctx)))
      const model = S.make(script.untilApproval)
      const first = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "refund", runId: "run_x" })).pipe(
        Effect.provide(backend({ ran: [], model: model.layer, store }))
      )
      expect(first._tag).toBe("Suspended")
      // A new definition of triage that no longer hands off to billing.
      const lone = Agent.make({ name: "triage", toolkit: triageTools })
      const error = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.resume("run_x", [])).pipe(
        Effect.provide(AgentBackend.layerLocal(lone).pipe(Layer.provide(Layer.mergeAll(S.make([]).layerUnchecked, store, Approval.layerSuspend(), triageTools.toLayer({ lookup_order: () => Effect.succeed("") }))))),
        Effect.flip
      )
      expect(error).toMatchObject({ _tag: "RunNotResumable", runId: "run_x", reason: expect.stringContaining(`a handoff left it with agent "billing"`) })
    }).pipe(Effect.scoped))

  it.effect("an input filter that throws stops the run with handoff_failed, the history as it was", () =>
    Effect.gen(function* () {
      const target = Agent.make({ name: "target", toolkit: Toolkit.make() })
      const source = Agent.make({
        name: "source",
        toolkit: Toolkit.make(),
        handoffs: [Handoff.make(target, { inputFilter: () => { throw new Error("boom") } })]
      })
      const model = S.make([S.toolCall("transfer_to_target", {}, { id: "t1" })])
      const layer = AgentBackend.layerLocal(source).pipe(Layer.provide(Layer.mergeAll(model.layer, RunStore.layerMemory, Approval.layerSuspend())))
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "go" })).pipe(Effect.provide(layer))
      expect(outcome).toMatchObject({ _tag: "Stopped", reason: "handoff_failed", detail: "source -> target: the handoff's input filter threw: boom" })
    }))

  it("a stored state without the handoff fields (written before handoffs) still decodes", async () => {
    const old = {
      version: 1, runId: "r", agent: "a", status: "suspended", messages: [], step: 1, toolHistory: [], toolChoiceUsed: false,
      queue: [], executedInStep: [], pending: [], usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 }
    }
    const state = await Effect.runPromise(RunState.decodeJson("r", JSON.stringify(old)))
    expect(state.currentAgent).toBeUndefined()
    expect(state.handoffs).toBeUndefined()
    expect(Exit.isSuccess(await Effect.runPromiseExit(RunState.decodeJson("r", JSON.stringify({ ...old, currentAgent: "b", handoffs: 1 }))))).toBe(true)
  })
})

describe("handoffs on Heroku chat completions (its fake, over loopback HTTP)", () => {
  it.effect("triage hands off to billing; billing's refund suspends; one resume finishes with billing", () =>
    Effect.gen(function* () {
      const ran: Array<string> = []
      const fake = yield* FakeHerokuInference.make({ chat: [...script.untilApproval, ...script.afterApproval] })
      const model = ChatModel.layer({ url: fake.url, key: Redacted.make(fake.key), model: fake.model }).pipe(Layer.provide(NodeHttpClient.layerUndici))
      const b = Context.get(yield* Layer.build(backend({ ran, model, store: RunStore.layerMemory })), AgentBackend.AgentBackend)
      const events: Array<AgentEvent.AgentEvent> = []
      const first = yield* run(b, "I want my $30 back for order 42", events)
      if (first._tag !== "Suspended") throw new Error(`expected Suspended, got ${first._tag}`)
      expect(first.pending.map((p) => p.toolName)).toEqual(["refund"])
      const second = yield* b.resume(first.runId, [Approval.approve(first.pending[0]!)], { onEvent: (e) => void events.push(e) })
      expect(second).toMatchObject({ _tag: "Completed", text: "Your refund of $30 is on its way. Anything else?" })
      expect(ran).toEqual(["lookup:42", "refund:42:30"])
      expect(speakers(events)).toEqual(["triage", "triage", "billing", "billing", "triage"])
      const bodies = fake.requests.map((r) => r.body as { messages: Array<{ role: string; content: string | null }>; tools?: Array<{ function: { name: string } }> })
      expect(bodies.map((body) => body.messages[0]!.content)).toEqual([
        "You route customer requests.",
        "You route customer requests.",
        "You handle refunds. Hand back to triage when done.",
        "You handle refunds. Hand back to triage when done.",
        "You route customer requests."
      ])
      expect(bodies.map((body) => body.tools?.map((t) => t.function.name))).toEqual([
        ["lookup_order", "transfer_to_billing"],
        ["lookup_order", "transfer_to_billing"],
        ["refund", "transfer_to_triage"],
        ["refund", "transfer_to_triage"],
        ["lookup_order", "transfer_to_billing"]
      ])
      // Billing's first request: removeToolCalls left no tool message from triage's turns.
      expect(bodies[2]!.messages.map((m) => m.role)).toEqual(["system", "user"])
    }))
})

// Keep the imports honest: these are part of the public API the tests above rely on.
void [LanguageModel, billing, billingTools]
