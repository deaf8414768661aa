import { AgentBackend, Approval, RunStore } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { harness } from "./fixtures.js"

const S = ScriptedModel

describe("RunStore.layerMemoryBounded", () => {
  it.effect("drops the runs that finished longest ago, never a run that can be resumed", () => {
    const h = harness(
      [
        S.toolCall("deploy", { version: "1" }), // run-s suspends here
        S.text("a"),
        S.text("b"),
        S.text("c"),
        S.text("deployed") // run-s, resumed
      ],
      { approvals: Approval.layerSuspend(), store: RunStore.layerMemoryBounded({ keepFinished: 2 }) }
    )
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const suspended = yield* backend.run({ input: "ship", runId: "run-s" })
      if (suspended._tag !== "Suspended") throw new Error(`expected Suspended, got ${suspended._tag}`)
      for (const runId of ["run-a", "run-b", "run-c"]) yield* backend.run({ input: "hi", runId })
      const kept = (runId: string) => Effect.map(backend.getRun(runId), Option.isSome)
      expect(yield* kept("run-a")).toBe(false) // finished first, dropped
      expect(yield* kept("run-b")).toBe(true)
      expect(yield* kept("run-c")).toBe(true)
      expect(yield* kept("run-s")).toBe(true) // suspended: never dropped
      const done = yield* backend.resume("run-s", [Approval.approve(suspended.pending[0]!)])
      expect(done).toMatchObject({ _tag: "Completed", text: "deployed" })
      // run-s has now finished too, after run-b and run-c: run-b is the oldest finished run.
      expect(yield* kept("run-b")).toBe(false)
      expect(yield* kept("run-c")).toBe(true)
      expect(yield* kept("run-s")).toBe(true)
    }).pipe(Effect.provide(h.layer))
  })

  it("rejects a bound that is not a non-negative integer", () => {
    expect(() => RunStore.layerMemoryBounded({ keepFinished: -1 })).toThrow(/non-negative integer/)
    expect(() => RunStore.layerMemoryBounded({ keepFinished: 1.5 })).toThrow(/non-negative integer/)
  })
})
