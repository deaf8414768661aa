/**
 * Agents as tools: a parent run suspends with its sub-agent's pending approval, and one resume of the parent
 * with the decision continues both (in one process here; across two processes in sub-agent-process.test.ts).
 */
import { AgentBackend, Approval, RunStore, SubAgent } from "@agentloop/core"
import { ChatModel } from "@agentloop/heroku"
import { FakeHerokuInference, ScriptedModel as S } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { backend } from "../examples/research-agent.js"

/** Parent and sub-agent share the model: the script interleaves their steps. */
const turns = {
  suspend: [
    S.toolCall("search", { query: "2.0" }, { id: "call_search" }),
    S.toolCall("release", { input: "Deploy 2.0" }, { id: "call_release" }),
    S.toolCall("deploy", { version: "2.0" }, { id: "call_deploy" })
  ],
  resume: [S.text("Deployed 2.0."), S.text("Release 2.0 researched and deployed.")]
}

describe("agents as tools", () => {
  it.effect("the sub-agent's approval suspends the parent; one resume with the decision continues both", () =>
    Effect.gen(function* () {
      const ran: Array<string> = []
      const model = S.make([...turns.suspend, ...turns.resume])
      const layer = backend({ ran, model: model.layer, store: RunStore.layerMemory })
      yield* Effect.gen(function* () {
        const b = yield* AgentBackend.AgentBackend
        const first = yield* b.run({ input: "Research and ship 2.0", runId: "run_parent" })
        expect(first._tag).toBe("Suspended")
        if (first._tag !== "Suspended") return
        expect(first.pending).toHaveLength(1)
        const pending = first.pending[0]!
        expect(pending).toMatchObject({ runId: "run_parent", toolName: "deploy", toolCallId: "call_release/call_deploy", via: "call_release", arguments: { version: "2.0" } })
        expect(ran).toEqual(["search:2.0"])
        // The sub-agent's own run is stored next to the parent's.
        const child = Option.getOrThrow(yield* RunStore.RunStore.pipe(Effect.flatMap((s) => s.load("run_parent.call_release"))))
        expect(child).toMatchObject({ agent: "release", status: "suspended" })

        const second = yield* b.resume("run_parent", [Approval.approve(pending, { by: "ops" })])
        expect(second).toMatchObject({ _tag: "Completed", text: "Release 2.0 researched and deployed." })
        expect(ran).toEqual(["search:2.0", "deploy:2.0"])
        // The parent's model saw the sub-agent's answer as the tool result.
        const last = model.requests.at(-1)!.messages.at(-1)
        expect(last).toMatchObject({ _tag: "ToolMessage", toolCallId: "call_release", content: "Deployed 2.0." })
        const parent = Option.getOrThrow(yield* b.getRun("run_parent"))
        expect(parent.pending).toEqual([])
      }).pipe(Effect.provide(Layer.merge(layer, RunStore.layerMemory)))
    }))

  it.effect("a provider that sends call_0 on every step: each sub-agent call is its own sub-run, the second's approval suspends the parent anew", () =>
    Effect.gen(function* () {
      const ran: Array<string> = []
      // Parent and sub-agents all number their calls per response: every call is call_0.
      const model = S.make([
        S.toolCall("release", { input: "Deploy 2.0" }, { id: "call_0" }),
        S.toolCall("deploy", { version: "2.0" }, { id: "call_0" }),
        S.text("Deployed 2.0."),
        S.toolCall("release", { input: "Deploy 3.0" }, { id: "call_0" }),
        S.toolCall("deploy", { version: "3.0" }, { id: "call_0" }),
        S.text("Deployed 3.0."),
        S.text("Both deployed.")
      ])
      yield* Effect.gen(function* () {
        const b = yield* AgentBackend.AgentBackend
        const store = yield* RunStore.RunStore
        const first = yield* b.run({ input: "Ship 2.0, then 3.0", runId: "rep" })
        if (first._tag !== "Suspended") throw new Error(`expected Suspended, got ${first._tag}`)
        expect(first.pending).toMatchObject([{ toolCallId: "call_0/call_0", via: "call_0", step: 1, arguments: { version: "2.0" } }])
        const second = yield* b.resume("rep", [Approval.approve(first.pending[0]!)])
        // Step 2's call starts its own sub-run (not step 1's finished one), which asks for its own approval.
        if (second._tag !== "Suspended") throw new Error(`expected Suspended, got ${second._tag}`)
        expect(second.pending).toMatchObject([{ toolCallId: "call_0/call_0", via: "call_0", step: 2, arguments: { version: "3.0" } }])
        expect(ran).toEqual(["deploy:2.0"])
        // Step 1's sub-run keeps the plain id (as stored before repeated ids were qualified); step 2's carries its step.
        expect(Option.getOrThrow(yield* store.load(SubAgent.childRunId("rep", "call_0")))).toMatchObject({ runId: "rep.call_0", status: "completed" })
        expect(Option.getOrThrow(yield* store.load(SubAgent.childRunId("rep", "call_0", 2)))).toMatchObject({ runId: "rep.2.call_0", status: "suspended" })
        const third = yield* b.resume("rep", [Approval.approve(second.pending[0]!)])
        expect(third).toMatchObject({ _tag: "Completed", text: "Both deployed." })
        expect(ran).toEqual(["deploy:2.0", "deploy:3.0"])
        const results = Option.getOrThrow(yield* b.getRun("rep")).messages.flatMap((m) => (m._tag === "ToolMessage" ? [m.content] : []))
        expect(results).toEqual(["Deployed 2.0.", "Deployed 3.0."])
        yield* model.assertComplete
      }).pipe(Effect.provide(Layer.merge(backend({ ran, model: model.layer, store: RunStore.layerMemory }), RunStore.layerMemory)))
    }))

  it.effect("a denial reaches the sub-agent's model as the tool result", () =>
    Effect.gen(function* () {
      const ran: Array<string> = []
      const model = S.make([
        S.toolCall("release", { input: "Deploy 3.0" }, { id: "call_release" }),
        S.toolCall("deploy", { version: "3.0" }, { id: "call_deploy" }),
        S.respond((request) => {
          expect(request.messages.at(-1)).toMatchObject({ _tag: "ToolMessage", isError: true, content: expect.stringContaining("freeze") })
          return S.text("Not deployed: change freeze.")
        }),
        S.text("The release was refused.")
      ])
      const b = yield* Effect.provide(AgentBackend.AgentBackend, backend({ ran, model: model.layerUnchecked, store: RunStore.layerMemory }))
      const first = yield* b.run({ input: "Ship 3.0" })
      if (first._tag !== "Suspended") throw new Error("expected Suspended")
      const second = yield* b.resume(first.runId, [Approval.deny(first.pending[0]!, "change freeze")])
      expect(second).toMatchObject({ _tag: "Completed", text: "The release was refused." })
      expect(ran).toEqual([])
      yield* model.assertComplete
    }))

  it.effect("on Heroku chat completions (its fake): the parent suspends on the sub-agent's approval and one resume finishes both", () =>
    Effect.gen(function* () {
      const ran: Array<string> = []
      const fake = yield* FakeHerokuInference.make({ chat: [...turns.suspend, ...turns.resume] })
      const model = ChatModel.layer({ url: fake.url, key: Redacted.make(fake.key), model: fake.model }).pipe(Layer.provide(NodeHttpClient.layerUndici))
      // Built in the test's scope: the HTTP client must outlive both calls.
      const b = Context.get(yield* Layer.build(backend({ ran, model, store: RunStore.layerMemory })), AgentBackend.AgentBackend)
      const first = yield* b.run({ input: "Research and ship 2.0" })
      if (first._tag !== "Suspended") throw new Error(`expected Suspended, got ${first._tag}`)
      expect(first.pending.map((p) => p.toolName)).toEqual(["deploy"])
      const second = yield* b.resume(first.runId, [Approval.approve(first.pending[0]!)])
      expect(second).toMatchObject({ _tag: "Completed", text: "Release 2.0 researched and deployed." })
      expect(ran).toEqual(["search:2.0", "deploy:2.0"])
      // The sub-agent's requests carry its own instructions and tools; the parent's offer the sub-agent as a tool.
      const bodies = fake.requests.map((r) => r.body as { messages: Array<{ role: string; content: string | null }>; tools?: Array<{ function: { name: string } }> })
      expect(bodies.map((b) => b.messages[0]!.content)).toEqual([
        "You research releases and delegate deployments.",
        "You research releases and delegate deployments.",
        "You deploy releases.",
        "You deploy releases.",
        "You research releases and delegate deployments."
      ])
      expect(bodies[0]!.tools?.map((t) => t.function.name)).toEqual(["search", "release"])
      expect(bodies[2]!.tools?.map((t) => t.function.name)).toEqual(["deploy"])
    }))
})
