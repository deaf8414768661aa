/**
 * A sub-agent's events, forwarded into the parent's events (`SubAgentEvent`): attributed and in order, two
 * levels deep, through `backend.stream`, `backend.run(input, { onEvent })` and `RunEvents.toAsyncIterable`,
 * on the resume of a nested approval, under backpressure; and not built when nobody watches the parent.
 */
import { Agent, AgentBackend, AgentEvent, Approval, type LanguageModel, Loop, RunEvents, RunStore, Tool, Toolkit } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Array as Arr, Context, Effect, Layer, Option, Schema, Stream } from "effect"
import { releaseTool, releaseTools, researchAgent, searchTools } from "../examples/research-agent.js"

/** lead -> research (a sub-agent) -> release (a sub-agent of research) -> deploy. */
const researchTool = Agent.asTool(researchAgent, { description: "Researches a release and ships it." })
const lead = Agent.make({ name: "lead", instructions: "You lead.", toolkit: researchTool.toolkit })

const backendOf = (model: Layer.Layer<LanguageModel.LanguageModel>, approvals: Layer.Layer<Approval.Approvals>, ran: Array<string> = []) => {
  const shared = Layer.mergeAll(model, RunStore.layerMemory, approvals)
  const deploy = releaseTools.toLayer({ deploy: ({ version }) => Effect.sync(() => (ran.push(`deploy:${version}`), `deployed ${version}`)) })
  const search = searchTools.toLayer({ search: ({ query }) => Effect.sync(() => (ran.push(`search:${query}`), `notes for ${query}`)) })
  const release = releaseTool.layer.pipe(Layer.provide(Layer.merge(shared, deploy)))
  const research = researchTool.layer.pipe(Layer.provide(Layer.mergeAll(shared, search, release)))
  return AgentBackend.layerLocal(lead).pipe(Layer.provide(Layer.merge(shared, research)))
}

const script = () => [
  S.toolCall("research", { input: "Research and ship 2.0" }, { id: "c_research" }),
  S.toolCall("search", { query: "2.0" }, { id: "c_search", text: "Searching." }),
  S.toolCall("release", { input: "Deploy 2.0" }, { id: "c_release" }),
  S.toolCall("deploy", { version: "2.0" }, { id: "c_deploy" }),
  S.text("Deployed 2.0."),
  S.text("Researched and deployed."),
  S.text("All done.")
]

/** Who said what: `<agents>|<tag>|<tool or text>` for text, calls and results. */
const trace = (events: ReadonlyArray<AgentEvent.AgentEvent>) =>
  events.flatMap((e) => {
    const { path, event } = AgentEvent.origin(e)
    const who = path.length === 0 ? "lead" : path.map((hop) => hop.agent).join(">")
    switch (event._tag) {
      case "TextDelta":
        return [`${who}|text|${event.delta}`]
      case "ToolCalled":
      case "ToolResult":
        return [`${who}|${event._tag}|${event.toolName}`]
      default:
        return []
    }
  })

const expected = [
  "lead|ToolCalled|research",
  "research|text|Searching.",
  "research|ToolCalled|search",
  "research|ToolResult|search",
  "research|ToolCalled|release",
  "research>release|ToolCalled|deploy",
  "research>release|ToolResult|deploy",
  "research>release|text|Deployed 2.0.",
  "research|ToolResult|release",
  "research|text|Researched and deployed.",
  "lead|ToolResult|research",
  "lead|text|All done."
]

describe("sub-agent events in the parent's stream", () => {
  it.effect("backend.stream: the sub-agents' text, calls and results are attributed, in order, two levels deep", () =>
    Effect.gen(function* () {
      const model = S.make(script())
      const events = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => Stream.runCollect(b.stream({ input: "Ship 2.0", runId: "run_lead" }))).pipe(
        Effect.provide(backendOf(model.layer, Approval.layerAutoApprove))
      )
      expect(trace(events)).toEqual(expected)
      expect(events.at(-1)).toMatchObject({ _tag: "RunFinished", runId: "run_lead", outcome: { _tag: "Completed", text: "All done." } })
      // A nested event names the parent's call, every hop, and keeps the sub-agent's own run id.
      const deployResult = events.find((e) => e._tag === "SubAgentEvent" && e.event._tag === "ToolResult" && e.event.toolName === "deploy")!
      expect(deployResult).toMatchObject({
        _tag: "SubAgentEvent",
        runId: "run_lead",
        step: 1,
        toolCallId: "c_research",
        agent: "release",
        path: [{ agent: "research", toolCallId: "c_research" }, { agent: "release", toolCallId: "c_release" }],
        event: { runId: "run_lead.c_research.c_release", toolCallId: "c_deploy", content: "deployed 2.0" }
      })
      // The sub-agents' runs start and finish inside the parent's call.
      const finished = events.filter((e) => e._tag === "SubAgentEvent" && e.event._tag === "RunFinished").map((e) => (e as AgentEvent.SubAgentEvent).agent)
      expect(finished).toEqual(["release", "research"])
      // Events are Schemas: a nested one survives encoding and decoding.
      expect(Schema.decodeUnknownSync(AgentEvent.AgentEvent)(JSON.parse(JSON.stringify(Schema.encodeSync(AgentEvent.AgentEvent)(deployResult))))).toEqual(deployResult)
      expect(AgentEvent.format(deployResult)).toBe("[research > release] result deploy: deployed 2.0")
    }))

  it.effect("backend.run with onEvent and RunEvents.toAsyncIterable see the same attributed events", () =>
    Effect.gen(function* () {
      const viaCallback: Array<AgentEvent.AgentEvent> = []
      const first = S.make(script())
      yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "Ship 2.0" }, { onEvent: (e) => viaCallback.push(e) })).pipe(
        Effect.provide(backendOf(first.layer, Approval.layerAutoApprove))
      )
      expect(trace(viaCallback)).toEqual(expected)

      const second = S.make(script())
      const viaIterator: Array<AgentEvent.AgentEvent> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const ctx = yield* Layer.build(backendOf(second.layer, Approval.layerAutoApprove))
          const b = Context.get(ctx, AgentBackend.AgentBackend)
          const iterable = RunEvents.toAsyncIterable(Context.empty(), (sink) => b.run({ input: "Ship 2.0" }, sink))
          yield* Effect.promise(async () => {
            for await (const event of iterable) viaIterator.push(event)
          })
        })
      )
      expect(trace(viaIterator)).toEqual(expected)
    }))

  it.effect("unobserved, the parent run is unchanged and an observer sees the sub-agents' own runs, never forwarded copies", () =>
    Effect.gen(function* () {
      const ran: Array<string> = []
      const observed: Array<AgentEvent.AgentEvent> = []
      const model = S.make(script())
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "Ship 2.0" })).pipe(
        Effect.provide(backendOf(model.layer, Approval.layerAutoApprove, ran)),
        Effect.provideService(AgentEvent.EventObserver, { observe: (e) => observed.push(e) })
      )
      expect(outcome).toMatchObject({ _tag: "Completed", text: "All done." })
      expect(ran).toEqual(["search:2.0", "deploy:2.0"])
      expect(observed.some((e) => e._tag === "SubAgentEvent")).toBe(false)
      expect(new Set(observed.map((e) => ("runId" in e ? e.runId : "")))).toEqual(
        new Set([expect.stringMatching(/^run_/), expect.stringMatching(/\.c_research$/), expect.stringMatching(/\.c_research\.c_release$/)])
      )
    }))

  it.effect("a tool learns of a consumer only when the run has one (onEvent, a stream), never from an observer alone", () =>
    Effect.gen(function* () {
      const Probe = Tool.make("probe", { description: "probe", success: Schema.String })
      const kit = Toolkit.make(Probe)
      const seen: Array<boolean> = []
      const layer = AgentBackend.layerLocal(Agent.make({ name: "p", toolkit: kit })).pipe(
        Layer.provide(
          Layer.mergeAll(
            S.make([S.toolCall("probe"), S.text("a"), S.toolCall("probe"), S.text("b"), S.toolCall("probe"), S.text("c")]).layer,
            kit.toLayer({ probe: (_, context) => Effect.sync(() => (seen.push(context.events !== undefined), "ok")) }),
            Approval.layerAutoApprove,
            RunStore.layerMemory
          )
        )
      )
      yield* Effect.gen(function* () {
        const b = yield* AgentBackend.AgentBackend
        yield* b.run({ input: "x" }).pipe(Effect.provideService(AgentEvent.EventObserver, { observe: () => {} }))
        yield* b.run({ input: "x" }, { onEvent: () => {} })
        yield* Stream.runDrain(b.stream({ input: "x" }))
      }).pipe(Effect.provide(layer))
      expect(seen).toEqual([false, true, true])
    }))

  it.effect("on resume of a nested approval, the sub-agents' events are forwarded into the resume stream", () =>
    Effect.gen(function* () {
      const ran: Array<string> = []
      const model = S.make(script())
      const b = yield* Effect.provide(AgentBackend.AgentBackend, backendOf(model.layerUnchecked, Approval.layerSuspend(), ran))
      const first = yield* Stream.runCollect(b.stream({ input: "Ship 2.0", runId: "run_nested" }))
      const suspended = first.at(-1)
      if (suspended?._tag !== "RunFinished" || suspended.outcome._tag !== "Suspended") throw new Error("expected a suspension")
      const pending = suspended.outcome.pending[0]!
      expect(pending).toMatchObject({ toolName: "deploy", toolCallId: "c_research/c_release/c_deploy" })
      // The innermost sub-agent's own approval request was forwarded too, attributed.
      expect(first.some((e) => e._tag === "SubAgentEvent" && e.agent === "release" && e.event._tag === "ApprovalRequested")).toBe(true)
      const resumed = yield* Stream.runCollect(b.resumeStream("run_nested", [Approval.approve(pending)]))
      expect(trace(resumed)).toEqual(expected.slice(expected.indexOf("research>release|ToolResult|deploy")))
      const decided = resumed.filter((e) => AgentEvent.origin(e).event._tag === "ApprovalDecided").map((e) => AgentEvent.origin(e).path.map((h) => h.agent).join(">"))
      expect(decided).toEqual(["", "research", "research>release"])
      expect(ran).toEqual(["search:2.0", "deploy:2.0"])
    }))

  it.effect("backpressure reaches the sub-agents: with a slow consumer, their model steps wait for it", () =>
    Effect.gen(function* () {
      const model = S.make(script())
      const b = yield* Effect.provide(AgentBackend.AgentBackend, backendOf(model.layerUnchecked, Approval.layerAutoApprove))
      // Room for one unread event; the consumer yields to the run many times before taking the next one.
      const seen = yield* Stream.runCollect(
        Stream.mapEffect(Loop.toStream((sink) => b.run({ input: "Ship 2.0" }, sink), 1), (event) =>
          Effect.as(Effect.repeat(Effect.yieldNow, { times: 50 }), { event, requests: model.requests.length })
        )
      )
      const at = (agent: string, tag: string) =>
        Option.getOrThrow(Arr.findFirst(seen, ({ event }) => event._tag === "SubAgentEvent" && event.agent === agent && event.event._tag === tag)).requests
      // Without backpressure the whole script (7 steps) would have run while the consumer was busy.
      expect(at("research", "RunStarted")).toBeLessThanOrEqual(3)
      expect(at("release", "RunStarted")).toBeLessThanOrEqual(5)
      expect(model.requests).toHaveLength(7)
      expect(Option.getOrThrow(Arr.last(seen)).event).toMatchObject({ _tag: "RunFinished", outcome: { _tag: "Completed" } })
    }))
})
