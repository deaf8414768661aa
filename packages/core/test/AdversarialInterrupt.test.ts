/**
 * Adversarial: a run interrupted at each point (before, during and after a model step and a tool call; in
 * a fresh run and in a resumed one) stores a resumable `interrupted` state, never `running`, and recovers
 * with `resume(runId, [])`: calls that finished run exactly once, a call cut off mid-execution runs again
 * with the same idempotency key.
 */
import { AgentBackend, Approval, type Message, RunState, RunStore } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Option } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeWorld, type Point } from "./support/adversarial.js"

const S = ScriptedModel

const stores: ReadonlyArray<readonly [string, () => Layer.Layer<RunStore.RunStore>]> = [
  ["layerMemory", () => RunStore.layerMemory],
  ["layerFileSystem", () => RunStore.layerFileSystem(mkdtempSync(join(tmpdir(), "agentloop-int-"))).pipe(Layer.provide(NodeServices.layer))]
]

const suspended = (outcome: RunState.RunOutcome): RunState.Suspended => {
  if (outcome._tag !== "Suspended") throw new Error(`expected Suspended, got ${JSON.stringify(outcome)}`)
  return outcome
}

/** Every tool call in the conversation has exactly one tool message. */
const expectOneResultPerCall = (messages: ReadonlyArray<Message.Message>) => {
  const calls = messages.flatMap((m) => (m._tag === "AssistantMessage" ? m.toolCalls.map((c) => c.id) : []))
  const results = messages.flatMap((m) => (m._tag === "ToolMessage" ? [m.toolCallId] : []))
  expect([...results].sort()).toEqual([...calls].sort())
}

/** Starts `run`, waits until it is held at `point`, interrupts it, and returns the state it left. */
const interruptAt = <E>(world: ReturnType<typeof makeWorld>, point: Point, run: Effect.Effect<unknown, E>) =>
  Effect.gen(function* () {
    const hold = world.holdAt(point)
    const fiber = yield* Effect.forkChild(run)
    yield* Deferred.await(hold.reached)
    yield* Fiber.interrupt(fiber)
  })

const stateOf = (runId: string) =>
  Effect.flatMap(AgentBackend.AgentBackend, (backend) => Effect.map(backend.getRun(runId), Option.getOrThrow))

for (const [name, store] of stores) {
  describe(`${name}: a fresh run interrupted`, () => {
    it.effect("during the model step: nothing ran; recovery takes the step again", () => {
      const world = makeWorld()
      const { layer } = world.backend([S.toolCall("note", { text: "a" }), S.text("done")], { store: store() })
      return Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        yield* interruptAt(world, "model:1", backend.run({ input: "go", runId: "m1" }))
        expect(yield* stateOf("m1")).toMatchObject({ status: "interrupted", step: 0, queue: [] })
        expect(world.executions).toEqual([])
        expect(yield* backend.resume("m1", [])).toMatchObject({ _tag: "Completed", text: "done", steps: 2 })
        expect(world.executions.map((e) => e.tool)).toEqual(["note"])
      }).pipe(Effect.provide(layer))
    })

    it.effect("after the model step, before the tool call (while approval is asked): recovery asks again, the call runs once", () => {
      const world = makeWorld()
      const reached = Deferred.makeUnsafe<void>()
      let asked = 0
      const approvals = Approval.layerPolicy(() =>
        ++asked === 1 ? Effect.andThen(Deferred.succeed(reached, undefined), Effect.never) : Effect.succeed(Approval.Verdict.approved({ by: "policy" }))
      )
      const { layer } = world.backend([S.toolCall("deploy", { version: "1" }), S.text("deployed")], { store: store(), approvals })
      return Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const fiber = yield* Effect.forkChild(backend.run({ input: "ship", runId: "a1" }))
        yield* Deferred.await(reached)
        yield* Fiber.interrupt(fiber)
        const state = yield* stateOf("a1")
        expect(state).toMatchObject({ status: "interrupted", step: 1, queue: [{ name: "deploy" }] })
        expect(world.executions).toEqual([])
        expect(yield* backend.resume("a1", [])).toMatchObject({ _tag: "Completed", text: "deployed" })
        expect(asked).toBe(2)
        expect(world.executions.map((e) => [e.tool, e.approvedBy])).toEqual([["deploy", "policy"]])
      }).pipe(Effect.provide(layer))
    })

    it.effect("during the tool call: recorded as unfinished; recovery runs it again with the same idempotency key", () => {
      const world = makeWorld()
      const { layer } = world.backend([S.toolCall("note", { text: "a" }), S.text("done")], { store: store() })
      return Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        yield* interruptAt(world, "note:1", backend.run({ input: "go", runId: "t1" }))
        const state = yield* stateOf("t1")
        expect(state).toMatchObject({ status: "interrupted", step: 1, queue: [{ name: "note" }] })
        expect(yield* backend.resume("t1", [])).toMatchObject({ _tag: "Completed", text: "done" })
        const keys = world.executions.map((e) => e.idempotencyKey)
        expect(keys).toEqual([`t1:${state.queue[0]!.id}`, `t1:${state.queue[0]!.id}`])
        expectOneResultPerCall(Option.getOrThrow(yield* backend.getRun("t1")).messages)
      }).pipe(Effect.provide(layer))
    })

    it.effect("a run with a generated id, during the tool call: it is stored (interrupted) and recovers", () => {
      const world = makeWorld()
      const { layer } = world.backend([S.toolCall("note", { text: "a" }), S.text("done")], { store: store() })
      return Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        yield* interruptAt(world, "note:1", backend.run({ input: "go" }))
        const runId = world.executions[0]!.idempotencyKey.split(":")[0]!
        expect(yield* stateOf(runId)).toMatchObject({ status: "interrupted", step: 1, queue: [{ name: "note" }] })
        expect(yield* backend.resume(runId, [])).toMatchObject({ _tag: "Completed", text: "done" })
        expect(world.executions).toHaveLength(2)
      }).pipe(Effect.provide(layer))
    })

    it.effect("after the tool call, before the next model step: the call is not run again", () => {
      const world = makeWorld()
      const { layer } = world.backend([S.toolCall("note", { text: "a" }), S.text("done")], { store: store() })
      return Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        yield* interruptAt(world, "model:2", backend.run({ input: "go", runId: "n1" }))
        expect(yield* stateOf("n1")).toMatchObject({ status: "interrupted", step: 1, queue: [], toolHistory: ["note"] })
        expect(yield* backend.resume("n1", [])).toMatchObject({ _tag: "Completed", text: "done", steps: 2 })
        expect(world.executions).toHaveLength(1)
      }).pipe(Effect.provide(layer))
    })

    it.effect("during one of two concurrent calls: the finished one is kept, only the cut-off one runs again", () => {
      const world = makeWorld()
      const { layer } = world.backend(
        [S.toolCalls([{ name: "note", args: { text: "a" } }, { name: "note", args: { text: "b" } }]), S.text("done")],
        { store: store() }
      )
      return Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        yield* interruptAt(world, "note:2", backend.run({ input: "go", runId: "p1" }))
        const state = yield* stateOf("p1")
        expect(state.status).toBe("interrupted")
        expect(state.queue.map((c) => c.arguments)).toEqual(['{"text":"b"}'])
        expect(yield* backend.resume("p1", [])).toMatchObject({ _tag: "Completed", text: "done" })
        expect(world.executions.map((e) => (e.args as { text: string }).text)).toEqual(["a", "b", "b"])
        expectOneResultPerCall(Option.getOrThrow(yield* backend.getRun("p1")).messages)
      }).pipe(Effect.provide(layer))
    })
  })

  describe(`${name}: a provider that sends call_0 on every step`, () => {
    const reusing = [
      S.toolCall("deploy", { version: "1" }, { id: "call_0" }),
      S.toolCall("deploy", { version: "2" }, { id: "call_0" }),
      S.text("deployed")
    ]
    // Step 1's key keeps the plain form (as stored before repeated ids were qualified); step 2's carries its step.
    for (const [point, expected] of [
      ["deploy:1", ["k1:call_0", "k1:call_0", "k1:2:call_0"]],
      ["deploy:2", ["k1:call_0", "k1:2:call_0", "k1:2:call_0"]]
    ] as const) {
      it.effect(`both calls deploy under an API deduping by key; interrupted during ${point}, recovery reruns that call with its own key`, () => {
        const world = makeWorld()
        const { layer } = world.backend(reusing, { store: store(), approvals: Approval.layerAutoApprove })
        return Effect.gen(function* () {
          const backend = yield* AgentBackend.AgentBackend
          yield* interruptAt(world, point, backend.run({ input: "ship", runId: "k1" }))
          expect(yield* stateOf("k1")).toMatchObject({ status: "interrupted", queue: [{ id: "call_0" }] })
          expect(yield* backend.resume("k1", [])).toMatchObject({ _tag: "Completed", text: "deployed", steps: 3 })
          expect(world.executions.map((e) => e.idempotencyKey)).toEqual(expected)
          expect(world.api.effects).toEqual(["1", "2"])
        }).pipe(Effect.provide(layer))
      })
    }

    it.effect("each step's call suspends, is approved and deploys; the second, cut off after approval, reruns with the same step-qualified key", () => {
      const world = makeWorld()
      const { layer } = world.backend(reusing, { store: store() })
      return Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const first = suspended(yield* backend.run({ input: "ship", runId: "k2" }))
        const second = suspended(yield* backend.resume("k2", [Approval.approve(first.pending[0]!, { by: "alice" })]))
        expect(second.pending).toMatchObject([{ toolCallId: "call_0", step: 2, arguments: { version: "2" } }])
        yield* interruptAt(world, "deploy:2", backend.resume("k2", [Approval.approve(second.pending[0]!, { by: "bob" })]))
        expect(yield* stateOf("k2")).toMatchObject({ status: "interrupted", step: 2, inFlight: [{ toolCallId: "call_0" }] })
        expect(yield* backend.resume("k2", [])).toMatchObject({ _tag: "Completed", text: "deployed" })
        expect(world.executions.map((e) => [e.idempotencyKey, e.approvedBy])).toEqual([
          ["k2:call_0", "alice"],
          ["k2:2:call_0", "bob"],
          ["k2:2:call_0", "bob"]
        ])
        expect(world.api.effects).toEqual(["1", "2"])
      }).pipe(Effect.provide(layer))
    })
  })

  describe(`${name}: a resumed run interrupted`, () => {
    it.effect("during the approved call: the state records it in flight with its approval; recovery runs it again, same key, without asking", () => {
      const world = makeWorld()
      const { layer } = world.backend([S.toolCall("deploy", { version: "1" }), S.text("deployed")], { store: store() })
      return Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const { pending } = suspended(yield* backend.run({ input: "ship", runId: "r1" }))
        const p = pending[0]!
        yield* interruptAt(world, "deploy:1", backend.resume("r1", [Approval.approve(p, { by: "alice" })]))
        const state = yield* stateOf("r1")
        expect(state).toMatchObject({
          status: "interrupted",
          pending: [],
          inFlight: [{ toolCallId: p.toolCallId, toolName: "deploy", arguments: { version: "1" }, argumentsDigest: p.argumentsDigest, approval: { decidedBy: "alice" } }]
        })
        expect(state.lease).toBeUndefined()
        // The consumed decision cannot be replayed; recovery needs none.
        expect(yield* backend.resume("r1", [Approval.approve(p)]).pipe(Effect.flip)).toMatchObject({ _tag: "InvalidApprovalDecision" })
        expect(yield* backend.resume("r1", [])).toMatchObject({ _tag: "Completed", text: "deployed" })
        const key = `r1:${p.toolCallId}`
        expect(world.executions.map((e) => [e.idempotencyKey, e.approvedBy])).toEqual([
          [key, "alice"],
          [key, "alice"]
        ])
        // A handler that passes the key on to an API deduping by it deploys once.
        expect(world.api.effects).toEqual(["1"])
      }).pipe(Effect.provide(layer))
    })

    it.effect("during the model step after the approved call: the call is not run again", () => {
      const world = makeWorld()
      const { layer } = world.backend([S.toolCall("deploy", { version: "1" }), S.text("deployed")], { store: store() })
      return Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const { pending } = suspended(yield* backend.run({ input: "ship", runId: "r2" }))
        yield* interruptAt(world, "model:2", backend.resume("r2", [Approval.approve(pending[0]!)]))
        const state = yield* stateOf("r2")
        expect(state).toMatchObject({ status: "interrupted", step: 1, queue: [], pending: [] })
        expect(state.inFlight).toBeUndefined()
        expect(yield* backend.resume("r2", [])).toMatchObject({ _tag: "Completed", text: "deployed" })
        expect(world.executions).toHaveLength(1)
      }).pipe(Effect.provide(layer))
    })

    it.effect("an in-flight record edited before recovery: RunStateTampered, nothing runs", () => {
      const world = makeWorld()
      return Effect.gen(function* () {
        const shared = Layer.succeedContext(yield* Layer.build(store()))
        const { layer } = world.backend([S.toolCall("deploy", { version: "1" }), S.text("deployed")], { store: shared })
        yield* Effect.gen(function* () {
          const backend = yield* AgentBackend.AgentBackend
          const s = yield* RunStore.RunStore
          const { pending } = suspended(yield* backend.run({ input: "ship", runId: "r3" }))
          yield* interruptAt(world, "deploy:1", backend.resume("r3", [Approval.approve(pending[0]!)]))
          const state = yield* stateOf("r3")
          const inFlight = state.inFlight![0]!
          yield* s.save(new RunState.RunState({ ...state, inFlight: [new RunState.InFlightCall({ ...inFlight, arguments: { version: "evil" } })] }))
          expect(yield* backend.resume("r3", []).pipe(Effect.flip)).toMatchObject({ _tag: "RunStateTampered", toolCallId: pending[0]!.toolCallId })
          expect(world.executions.map((e) => e.args)).toEqual([{ version: "1" }])
        }).pipe(Effect.provide(Layer.merge(layer, shared)))
      }).pipe(Effect.scoped)
    })
  })
}
