/**
 * Agents as tools: a parent run suspends with its sub-agent's pending approval, and one resume of the parent
 * with the decision continues both (in one process here; across two processes in sub-agent-process.test.ts).
 */
import { AgentBackend, Approval, RunStore } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { backend } from "./support/research.js"

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
})
