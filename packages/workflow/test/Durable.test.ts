import { Agent, Approval, ToolRule } from "@agentloop/core"
import { Durable } from "@agentloop/workflow"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { DurableDeferred } from "effect/workflow"
import { defaultFailoverAfter, failoverTimings } from "../src/internal/engines.js"
import { agent, handlers, model, repeatingAgent, repeatingIdsModel, toolkit } from "./fixtures.js"

const setup = (options?: { readonly repeating?: boolean }) => {
  const modelCalls: Array<number> = []
  const toolRuns: Array<string> = []
  const layer = Durable.layer(options?.repeating === true ? repeatingAgent : agent).pipe(
    Layer.provideMerge(Durable.layerMemory),
    Layer.provide(
      Layer.merge(
        (options?.repeating === true ? repeatingIdsModel : model)((turn) => void modelCalls.push(turn)),
        handlers((key, version) => Effect.sync(() => void toolRuns.push(`${key} ${version}`)))
      )
    )
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
      expect(toolRuns).toEqual(["run-1:call-deploy 7.2"])
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
      expect(second).toMatchObject({ _tag: "DecisionRejected", reason: "already decided: approved by alice", winner: { approved: true, decidedBy: "alice" } })
      // Straight to the engine: still ignored.
      const deferred = DurableDeferred.make("approval/1/call-deploy", { success: Approval.ApprovalDecision })
      const token = DurableDeferred.tokenFromExecutionId(deferred, { workflow: Durable.workflowFor(agent), executionId: yield* Durable.workflowFor(agent).executionId({ runId: "run-2", input: [] }) })
      yield* DurableDeferred.succeed(deferred, { token, value: Approval.deny(pending, "sneaky") })
      const done = yield* Durable.awaitSettled(agent, "run-2")
      expect(done).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
      expect(toolRuns).toEqual(["run-2:call-deploy 7.2"])
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
      expect(forged).toMatchObject({ _tag: "DecisionRejected", reason: expect.stringContaining("approval id does not match") })
      const tampered = yield* Effect.flip(
        Durable.decide(agent, "run-3", new Approval.ApprovalDecision({ ...Approval.approve(pending), argumentsDigest: Approval.argumentsDigest({ version: "9" }) }))
      )
      expect(tampered).toMatchObject({ _tag: "DecisionRejected", reason: expect.stringContaining("arguments digest does not match") })
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

  it.live("a provider that sends call_0 on every step: each step's call is asked for and run (nothing replays step 1's)", () => {
    const { layer, modelCalls, toolRuns } = setup({ repeating: true })
    return Effect.gen(function* () {
      yield* Durable.start(repeatingAgent, { runId: "run-5", input: "ship" })
      const first = yield* Durable.awaitSettled(repeatingAgent, "run-5")
      if (first._tag !== "Suspended") throw new Error("expected Suspended")
      expect(first.pending).toMatchObject([{ toolCallId: "call_0", step: 1, arguments: { version: "7.1" } }])
      yield* Durable.decide(repeatingAgent, "run-5", Approval.approve(first.pending[0]!))
      const second = yield* Durable.awaitSettled(repeatingAgent, "run-5")
      if (second._tag !== "Suspended") throw new Error(`expected Suspended, got ${JSON.stringify(second)}`)
      // Same call id, another step: its own approval (a new approval id), not step 1's decision.
      expect(second.pending).toMatchObject([{ toolCallId: "call_0", step: 2, arguments: { version: "7.2" } }])
      expect(second.pending[0]!.approvalId).not.toBe(first.pending[0]!.approvalId)
      yield* Durable.decide(repeatingAgent, "run-5", Approval.approve(second.pending[0]!))
      const done = yield* Durable.awaitSettled(repeatingAgent, "run-5")
      expect(done).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.1, deployed 7.2", steps: 3 } })
      // Each call its own idempotency key: step 1's in the plain form, step 2's (a repeated id) with its step.
      expect(toolRuns).toEqual(["run-5:call_0 7.1", "run-5:2:call_0 7.2"])
      expect(modelCalls).toEqual([1, 2, 3])
    }).pipe(Effect.provide(layer))
  })

  it.live("20 rounds of approve vs deny at the same moment: exactly one wins, the loser is told who; pending and decision change together; the winner may retry", () => {
    const { layer, toolRuns } = setup()
    return Effect.gen(function* () {
      let approvals = 0
      for (let round = 0; round < 20; round++) {
        const runId = `race-${round}`
        yield* Durable.start(agent, { runId, input: "ship" })
        const waiting = yield* Durable.awaitSettled(agent, runId)
        if (waiting._tag !== "Suspended") throw new Error("expected Suspended")
        const pending = waiting.pending[0]!
        // Alternate who goes first, so both orders are tried.
        const calls = [
          Effect.result(Durable.decide(agent, runId, Approval.approve(pending, { by: "alice" }))),
          Effect.result(Durable.decide(agent, runId, Approval.deny(pending, "no", { by: "bob" })))
        ]
        const [approve, deny] = round % 2 === 0 ? yield* Effect.all(calls, { concurrency: 2 }) : (yield* Effect.all([calls[1]!, calls[0]!], { concurrency: 2 })).reverse()
        const won = [approve!, deny!].filter((r) => r._tag === "Success")
        expect(won).toHaveLength(1)
        const approved = approve!._tag === "Success"
        if (approved) approvals++
        const loser = approved ? deny! : approve!
        expect(loser._tag === "Failure" && loser.failure).toMatchObject({
          _tag: "DecisionRejected",
          winner: approved ? { approved: true, decidedBy: "alice" } : { approved: false, decidedBy: "bob" }
        })
        const now = yield* Durable.status(agent, runId)
        expect(now._tag === "Suspended" ? now.pending : []).toEqual([])
        const done = yield* Durable.awaitSettled(agent, runId)
        expect(done).toMatchObject({ _tag: "Completed", outcome: { text: approved ? "Done: deployed 7.2" : "Done: Error: request to call tool denied. User reason: no" } })
        // The winner repeating its own decision (a retry) is accepted and changes nothing.
        yield* Durable.decide(agent, runId, approved ? Approval.approve(pending, { by: "alice" }) : Approval.deny(pending, "no", { by: "bob" }))
      }
      expect(toolRuns).toHaveLength(approvals)
    }).pipe(Effect.provide(layer))
  })

  it.live("deciding or starting where the agent does not run fails at once with EngineUnavailable (no hang)", () =>
    Effect.gen(function* () {
      const pending = new Approval.PendingApproval({
        approvalId: "apr_x", runId: "run-6", toolCallId: "call-deploy", toolName: "deploy",
        arguments: { version: "7.2" }, argumentsDigest: Approval.argumentsDigest({ version: "7.2" }), step: 1, requestedAt: 0
      })
      const decided = yield* Effect.flip(Durable.decide(agent, "run-6", Approval.approve(pending)))
      expect(decided).toMatchObject({ _tag: "EngineUnavailable", agent: "durable-deployer", operation: "decide" })
      const started = yield* Effect.flip(Durable.start(agent, { runId: "run-6", input: "ship" }))
      expect(started).toMatchObject({ _tag: "EngineUnavailable", operation: "start a run" })
    }).pipe(Effect.provide(Durable.layerMemory))
  )

  it.live("every cross-process call takes a timeout and fails with EngineTimeout after it", () => {
    const { layer } = setup()
    return Effect.gen(function* () {
      yield* Durable.start(agent, { runId: "run-7", input: "ship" })
      yield* Durable.awaitSettled(agent, "run-7")
      yield* Durable.start(agent, { runId: "run-7b", input: "ship" }, { timeout: "5 seconds" })
      const waited = yield* Effect.flip(Durable.awaitSettled(agent, "run-7-never-started", { timeout: "100 millis" }))
      expect(waited).toMatchObject({ _tag: "EngineTimeout", operation: "awaitSettled", runId: "run-7-never-started", timeoutMillis: 100 })
    }).pipe(Effect.provide(layer))
  })

  it("failoverAfter sets effect/cluster's timings: locks expire after it, refreshed every third of it, runners pinged every 2 s (never less often than it)", () => {
    expect(Duration.toMillis(defaultFailoverAfter)).toBe(9_000)
    const millis = (t: ReturnType<typeof failoverTimings>) => ({
      expiration: Duration.toMillis(t.shardLockExpiration),
      refresh: Duration.toMillis(t.shardLockRefreshInterval),
      health: Duration.toMillis(t.runnerHealthCheckInterval)
    })
    expect(millis(failoverTimings(defaultFailoverAfter))).toEqual({ expiration: 9_000, refresh: 3_000, health: 2_000 })
    expect(millis(failoverTimings(Duration.seconds(30)))).toEqual({ expiration: 30_000, refresh: 10_000, health: 2_000 })
    expect(millis(failoverTimings(Duration.millis(1_500)))).toEqual({ expiration: 1_500, refresh: 500, health: 1_500 })
  })
})
