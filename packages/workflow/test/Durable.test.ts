import { Agent, Approval, ToolRule } from "@agentloop/core"
import { Durable } from "@agentloop/workflow"
import { describe, expect, it } from "@effect/vitest"
import { DurableDeferred } from "@effect/workflow"
import { Effect, Layer } from "effect"
import { agent, handlers, model, toolkit } from "./fixtures.js"

const setup = () => {
  const modelCalls: Array<number> = []
  const toolRuns: Array<string> = []
  const layer = Durable.layer(agent).pipe(
    Layer.provideMerge(Durable.layerMemory),
    Layer.provide(Layer.merge(model((turn) => void modelCalls.push(turn)), handlers((key) => Effect.sync(() => void toolRuns.push(key)))))
  )
  return { layer, modelCalls, toolRuns }
}

describe("Durable (in memory)", () => {
  it.effect("the layer fails to build with InvalidToolRules / InvalidToolChoice for an agent that cannot work", () =>
    Effect.gen(function* () {
      const cycle = Agent.make({ name: "cyclic", toolkit, rules: [ToolRule.child("deploy", ["deploy"]), ToolRule.init("deploy")] })
      const ghost = Agent.make({ name: "ghost", toolkit, toolChoice: { function: "ghost" } })
      for (const [bad, tag] of [[cycle, "InvalidToolRules"], [ghost, "InvalidToolChoice"]] as const) {
        const built = Durable.layer(bad).pipe(
          Layer.provideMerge(Durable.layerMemory),
          Layer.provide(Layer.merge(model(() => {}), handlers(() => Effect.void)))
        )
        const error = yield* Effect.flip(Effect.scoped(Layer.build(built)))
        expect(error).toMatchObject({ _tag: tag })
      }
    }))

  it.live("suspends for approval, resumes on the decision without re-running finished steps", () => {
    const { layer, modelCalls, toolRuns } = setup()
    return Effect.gen(function* () {
      yield* Durable.start(agent, { runId: "run-1", input: "ship 7.2" })
      const waiting = yield* Durable.awaitSettled(agent, "run-1")
      if (waiting._tag !== "Suspended") throw new Error(`expected Suspended, got ${JSON.stringify(waiting)}`)
      expect(waiting.pending).toMatchObject([{ runId: "run-1", toolCallId: "call-deploy", toolName: "deploy", arguments: { version: "7.2" } }])
      expect(modelCalls).toEqual([1])
      expect(toolRuns).toEqual([])

      yield* Durable.decide(agent, "run-1", Approval.approve(waiting.pending[0]!, { by: "alice" }))
      const done = yield* Durable.awaitSettled(agent, "run-1")
      expect(done).toMatchObject({ _tag: "Completed", outcome: { _tag: "Completed", text: "Done: deployed 7.2", steps: 2 } })
      expect(modelCalls).toEqual([1, 2]) // turn 1 was replayed from storage, not asked again
      expect(toolRuns).toEqual(["run-1:call-deploy"])
    }).pipe(Effect.provide(layer))
  })

  it.live("the first decision wins: a contradicting second one is rejected, and ignored by the engine", () => {
    const { layer, toolRuns } = setup()
    return Effect.gen(function* () {
      yield* Durable.start(agent, { runId: "run-2", input: "ship" })
      const waiting = yield* Durable.awaitSettled(agent, "run-2")
      if (waiting._tag !== "Suspended") throw new Error("expected Suspended")
      const pending = waiting.pending[0]!
      yield* Durable.decide(agent, "run-2", Approval.approve(pending, { by: "alice" }))
      const second = yield* Effect.flip(Durable.decide(agent, "run-2", Approval.deny(pending, "changed my mind")))
      expect(second).toMatchObject({ _tag: "DecisionRejected", reason: expect.stringContaining("no approval is pending") })
      // Straight to the engine: still ignored.
      const deferred = DurableDeferred.make("approval/call-deploy", { success: Approval.ApprovalDecision })
      const token = DurableDeferred.tokenFromExecutionId(deferred, { workflow: Durable.workflowFor(agent), executionId: yield* Durable.workflowFor(agent).executionId({ runId: "run-2", input: [] }) })
      yield* DurableDeferred.succeed(deferred, { token, value: Approval.deny(pending, "sneaky") })
      const done = yield* Durable.awaitSettled(agent, "run-2")
      expect(done).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
      expect(toolRuns).toEqual(["run-2:call-deploy"])
    }).pipe(Effect.provide(layer))
  })

  it.live("a denial reaches the model with its reason; forged or mismatched decisions are refused", () => {
    const { layer, toolRuns } = setup()
    return Effect.gen(function* () {
      yield* Durable.start(agent, { runId: "run-3", input: "ship" })
      const waiting = yield* Durable.awaitSettled(agent, "run-3")
      if (waiting._tag !== "Suspended") throw new Error("expected Suspended")
      const pending = waiting.pending[0]!
      const forged = yield* Effect.flip(Durable.decide(agent, "run-3", new Approval.ApprovalDecision({ ...Approval.approve(pending), approvalId: "apr_forged" })))
      expect(forged.reason).toContain("approval id does not match")
      const tampered = yield* Effect.flip(
        Durable.decide(agent, "run-3", new Approval.ApprovalDecision({ ...Approval.approve(pending), argumentsDigest: Approval.argumentsDigest({ version: "9" }) }))
      )
      expect(tampered.reason).toContain("arguments digest does not match")
      yield* Durable.decide(agent, "run-3", Approval.deny(pending, "change freeze", { by: "bob" }))
      const done = yield* Durable.awaitSettled(agent, "run-3")
      expect(done).toMatchObject({ _tag: "Completed", outcome: { text: "Done: Error: request to call tool denied. User reason: change freeze" } })
      expect(toolRuns).toEqual([])
    }).pipe(Effect.provide(layer))
  })

  it.live("starting the same run id twice is one run; an unknown run is NotFound", () => {
    const { layer, modelCalls } = setup()
    return Effect.gen(function* () {
      yield* Durable.start(agent, { runId: "run-4", input: "ship" })
      yield* Durable.start(agent, { runId: "run-4", input: "ship" })
      yield* Durable.awaitSettled(agent, "run-4")
      expect(modelCalls).toEqual([1])
      expect(yield* Durable.status(agent, "nope")).toEqual({ _tag: "NotFound" })
    }).pipe(Effect.provide(layer))
  })
})
