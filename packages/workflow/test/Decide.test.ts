/**
 * `decide` is two writes (the inbox records the decision, then the engine's deferred wakes the run). These
 * tests stop it at each point in between (through `Durable.DecideHook`) in one process and show that no
 * point loses the decision. Across processes (SIGKILL at each point) see `CrashDecide.test.ts`.
 */
import { Approval } from "@agentloop/core"
import { ApprovalInbox, Durable } from "@agentloop/workflow"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { WorkflowEngine } from "effect/workflow"
import { agent, handlers, model } from "./fixtures.js"

/**
 * The agent on a memory engine: `Durable.layerMemory` (whose redelivery pass runs every second), or its parts
 * without that pass (`redelivery: false`), so that only what a test does can deliver a decision.
 */
const setup = (options: { readonly redelivery: boolean }) => {
  const toolRuns: Array<string> = []
  const modelCalls: Array<number> = []
  const engine = options.redelivery
    ? Durable.layerMemory
    : Layer.mergeAll(WorkflowEngine.layerMemory, ApprovalInbox.layerMemory, Layer.sync(Durable.LocalEngine, () => ({ kind: "single-runner" as const, agents: new Set<string>() })))
  const layer = Durable.layer(agent).pipe(
    Layer.provideMerge(engine),
    Layer.provide(Layer.merge(model((turn) => void modelCalls.push(turn)), handlers((key) => Effect.sync(() => void toolRuns.push(key)))))
  )
  return { layer, toolRuns, modelCalls }
}

const suspended = (runId: string) =>
  Effect.gen(function* () {
    yield* Durable.start(agent, { runId, input: "ship 7.2" })
    const status = yield* Durable.awaitSettled(agent, runId)
    if (status._tag !== "Suspended") throw new Error(`expected Suspended, got ${JSON.stringify(status)}`)
    return status.pending[0]!
  })

/** Decides, with the decider "dying" (interrupted) at `point`; returns the run's status seen right there. */
const decideDyingAt = (runId: string, decision: Approval.ApprovalDecision, point: Durable.DecidePoint) =>
  Effect.gen(function* () {
    let seen: Durable.Status | undefined
    const exit = yield* Effect.exit(
      Durable.decide(agent, runId, decision).pipe(
        Effect.provideService(Durable.DecideHook, (at, id) =>
          at === point ? Effect.andThen(Effect.map(Durable.status(agent, id), (s) => void (seen = s)), Effect.interrupt) : Effect.void
        )
      )
    )
    expect(Exit.hasInterrupts(exit)).toBe(true)
    return seen!
  })

describe("decide stopped between its writes (in memory)", () => {
  it.live("stopped after recording, before delivering: status lists the decision as undelivered; a later decide by anyone delivers it; the tool runs once", () => {
    const { layer, toolRuns, modelCalls } = setup({ redelivery: false })
    return Effect.gen(function* () {
      const pending = yield* suspended("run-r")
      const seen = yield* decideDyingAt("run-r", Approval.approve(pending, { by: "alice" }), "recorded")
      // Decided, so no longer pending; not delivered, so listed with its decision.
      expect(seen).toMatchObject({ _tag: "Running", undelivered: [{ pending: { approvalId: pending.approvalId }, decision: { approved: true, decidedBy: "alice" } }] })
      yield* Effect.sleep("300 millis")
      // Nothing in this engine delivers it: the run is stuck, and says why.
      expect(yield* Durable.status(agent, "run-r")).toMatchObject({ _tag: "Running", undelivered: [{ decision: { decidedBy: "alice" } }] })
      expect(toolRuns).toEqual([])
      // Bob comes later: he is told alice won, and his call delivers her decision.
      const late = yield* Effect.flip(Durable.decide(agent, "run-r", Approval.deny(pending, "no", { by: "bob" })))
      expect(late).toMatchObject({ _tag: "DecisionRejected", reason: "already decided: approved by alice", winner: { approved: true, decidedBy: "alice" } })
      expect(yield* Durable.awaitSettled(agent, "run-r")).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
      expect(toolRuns).toEqual(["run-r:call-deploy"])
      expect(modelCalls).toEqual([1, 2])
    }).pipe(Effect.provide(layer))
  })

  it.live("stopped before recording: nothing is recorded, the approval is still pending; deciding again wins", () => {
    const { layer, toolRuns } = setup({ redelivery: false })
    return Effect.gen(function* () {
      const pending = yield* suspended("run-v")
      const seen = yield* decideDyingAt("run-v", Approval.approve(pending, { by: "alice" }), "validated")
      expect(seen).toMatchObject({ _tag: "Suspended", pending: [{ approvalId: pending.approvalId }], undelivered: [] })
      yield* Durable.decide(agent, "run-v", Approval.deny(pending, "no", { by: "bob" }))
      expect(yield* Durable.awaitSettled(agent, "run-v")).toMatchObject({ _tag: "Completed", outcome: { text: "Done: Error: request to call tool denied. User reason: no" } })
      expect(toolRuns).toEqual([])
    }).pipe(Effect.provide(layer))
  })

  it.live("stopped after delivering: the run goes on by itself; the same decision again is accepted; the tool runs once", () => {
    const { layer, toolRuns } = setup({ redelivery: false })
    return Effect.gen(function* () {
      const pending = yield* suspended("run-d")
      yield* decideDyingAt("run-d", Approval.approve(pending, { by: "alice" }), "delivered")
      expect(yield* Durable.awaitSettled(agent, "run-d")).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
      yield* Durable.decide(agent, "run-d", Approval.approve(pending, { by: "alice" }))
      expect(toolRuns).toEqual(["run-d:call-deploy"])
    }).pipe(Effect.provide(layer))
  })

  it.live("a run that replays takes a recorded decision from the inbox, even one never delivered", () => {
    const { layer, toolRuns } = setup({ redelivery: false })
    return Effect.gen(function* () {
      const pending = yield* suspended("run-i")
      yield* decideDyingAt("run-i", Approval.approve(pending, { by: "alice" }), "recorded")
      // Anything that replays the run (here the engine's own resume; a restart, another deferred) reaches the
      // approval, which finds the decision in the inbox and does not wait for the deferred.
      const engine = yield* WorkflowEngine.WorkflowEngine
      const workflow = Durable.workflowFor(agent)
      yield* engine.resume(workflow, yield* workflow.executionId({ runId: "run-i", input: [] }))
      expect(yield* Durable.awaitSettled(agent, "run-i")).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
      expect(toolRuns).toEqual(["run-i:call-deploy"])
      // Taking it marked it delivered.
      expect(yield* Durable.status(agent, "run-i")).toMatchObject({ _tag: "Completed" })
      const inbox = yield* ApprovalInbox.ApprovalInbox
      expect(yield* inbox.find("run-i", pending.approvalId)).toMatchObject({ delivered: true })
    }).pipe(Effect.provide(layer))
  })

  it.live("Durable.layerMemory delivers a decision its decider left undelivered on its own (redelivery pass)", () => {
    const { layer, toolRuns } = setup({ redelivery: true })
    return Effect.gen(function* () {
      const pending = yield* suspended("run-s")
      yield* decideDyingAt("run-s", Approval.approve(pending, { by: "alice" }), "recorded")
      expect(yield* Durable.awaitSettled(agent, "run-s", { timeout: "10 seconds" })).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
      expect(toolRuns).toEqual(["run-s:call-deploy"])
    }).pipe(Effect.provide(layer))
  })
})
