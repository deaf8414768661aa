/**
 * Adversarial: concurrent resumes and starts, dead owners and expired leases, late decisions, and edited
 * state (in memory, on disk, and under an integrity key). Every test counts handler executions exactly.
 */
import { AgentBackend, Approval, Message, RunState, RunStore } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer, Option, Redacted, Result } from "effect"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { initialState } from "./fixtures.js"
import { makeWorld } from "./support/adversarial.js"

const S = ScriptedModel
const ROUNDS = 20

const fileStore = (options?: RunStore.FileSystemOptions) => {
  const dir = mkdtempSync(join(tmpdir(), "agentloop-adv-"))
  return { dir, layer: RunStore.layerFileSystem(dir, options).pipe(Layer.provide(NodeServices.layer)) }
}

const stores: ReadonlyArray<readonly [string, () => Layer.Layer<RunStore.RunStore>]> = [
  ["layerMemory", () => RunStore.layerMemory],
  ["layerMemoryBounded", () => RunStore.layerMemoryBounded({ keepFinished: 3 })],
  ["layerFileSystem", () => fileStore().layer]
]

/**
 * A store whose loads wait until `parties` loads have happened: every racer has read the same revision
 * before any of them claims, so the claim itself (the compare-and-set) decides the race.
 */
const makeBarrier = () => {
  let gate: { count: number; readonly open: Deferred.Deferred<void> } | undefined
  return {
    arm: (parties: number) => {
      gate = { count: parties, open: Deferred.makeUnsafe<void>() }
    },
    wrap: (inner: Layer.Layer<RunStore.RunStore>): Layer.Layer<RunStore.RunStore> =>
      Layer.effect(
        RunStore.RunStore,
        Effect.map(RunStore.RunStore, (store) => ({
          ...store,
          load: (runId: string) =>
            Effect.flatMap(store.load(runId), (state) => {
              const g = gate
              if (g === undefined) return Effect.succeed(state)
              g.count--
              if (g.count > 0) return Effect.as(Deferred.await(g.open), state)
              gate = undefined
              return Effect.as(Deferred.succeed(g.open, undefined), state)
            })
        }))
      ).pipe(Layer.provide(inner))
  }
}

/** Builds the store once, so the backends and the test itself see the same one. */
const sharing = <A, E, R>(store: Layer.Layer<RunStore.RunStore>, f: (shared: Layer.Layer<RunStore.RunStore>) => Effect.Effect<A, E, R>) =>
  Effect.scoped(Effect.flatMap(Layer.build(store), (context) => f(Layer.succeedContext(context))))

const suspended = (outcome: RunState.RunOutcome): RunState.Suspended => {
  if (outcome._tag !== "Suspended") throw new Error(`expected Suspended, got ${JSON.stringify(outcome)}`)
  return outcome
}

const tagOf = <A, E extends { readonly _tag: string }>(result: Result.Result<A, E>) =>
  Result.isSuccess(result) ? "won" : result.failure._tag

describe("concurrent resumes of one suspended run", () => {
  for (const [name, store] of stores) {
    it.live(`${name}: ${ROUNDS} rounds of two resumes that both read the run first: exactly one wins, the approved call runs once`, () => {
      const world = makeWorld()
      const barrier = makeBarrier()
      const turns = Array.from({ length: ROUNDS }, (_, i) => [S.toolCall("deploy", { version: `${i}` }), S.text(`deployed ${i}`)]).flat()
      const { layer } = world.backend(turns, { store: barrier.wrap(store()) })
      return Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        for (let round = 0; round < ROUNDS; round++) {
          const runId = `race-${round}`
          const { pending } = suspended(yield* backend.run({ input: "ship", runId }))
          const decision = Approval.approve(pending[0]!, { by: "alice" })
          barrier.arm(2)
          const results = yield* Effect.all([backend.resume(runId, [decision]), backend.resume(runId, [decision])].map(Effect.result), {
            concurrency: "unbounded"
          })
          expect(results.map(tagOf).sort()).toEqual(["RunBusy", "won"])
          expect(world.executions.filter((e) => e.idempotencyKey.startsWith(`${runId}:`))).toHaveLength(1)
          const state = Option.getOrThrow(yield* backend.getRun(runId))
          expect(state.status).toBe("completed")
        }
        expect(world.executions).toHaveLength(ROUNDS)
        expect(world.api.effects).toHaveLength(ROUNDS)
      }).pipe(Effect.provide(layer))
    })

    it.live(`${name}: ${ROUNDS} rounds of two starts with one run id: exactly one runs, the other is RunAlreadyExists`, () => {
      const world = makeWorld()
      const turns = Array.from({ length: ROUNDS }, (_, i) => S.toolCall("note", { text: `${i}` }, { delay: Duration.millis(1) })).flatMap((t, i) => [
        t,
        S.text(`noted ${i}`)
      ])
      const { layer } = world.backend(turns, { store: store() })
      return Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        for (let round = 0; round < ROUNDS; round++) {
          const runId = `start-${round}`
          const results = yield* Effect.all([backend.run({ input: "x", runId }), backend.run({ input: "x", runId })].map(Effect.result), {
            concurrency: "unbounded"
          })
          expect(results.map(tagOf).sort()).toEqual(["RunAlreadyExists", "won"])
        }
        expect(world.executions.map((e) => (e.args as { text: string }).text)).toEqual(Array.from({ length: ROUNDS }, (_, i) => `${i}`))
      }).pipe(Effect.provide(layer))
    })
  }
})

describe("RunStore compare-and-set", () => {
  for (const [name, store] of stores) {
    it.effect(`${name}: a write expecting a stale revision fails with RunStoreConflict and writes nothing`, () =>
      Effect.gen(function* () {
        const s = yield* RunStore.RunStore
        const state = (status: RunState.RunStatus) =>
          initialState({ runId: "cas-1", agent: "a", status, input: "x" })
        const first = yield* s.compareAndSet(state("running"), 0)
        expect(first.revision).toBe(1)
        const conflict = yield* s.compareAndSet(state("suspended"), 0).pipe(Effect.flip)
        expect(conflict).toMatchObject({ _tag: "RunStoreConflict", runId: "cas-1", expected: 0, actual: 1 })
        const second = yield* s.compareAndSet(state("suspended"), 1)
        expect(second.revision).toBe(2)
        const stale = yield* s.compareAndSet(state("failed"), 1).pipe(Effect.flip)
        expect(stale).toMatchObject({ _tag: "RunStoreConflict", expected: 1, actual: 2 })
        const stored = Option.getOrThrow(yield* s.load("cas-1"))
        expect(stored).toMatchObject({ status: "suspended", revision: 2 })
        // A plain save is the next revision too, so a racer expecting the old one loses.
        yield* s.save(state("failed"))
        expect(Option.getOrThrow(yield* s.load("cas-1")).revision).toBe(3)
      }).pipe(Effect.provide(store())))
  }
})

describe("leases: a run whose owner died becomes resumable when its lease expires", () => {
  it.effect("a running run with a live lease is busy; after expiry a resume recovers it and runs the approved call once", () => {
    const world = makeWorld()
    return sharing(RunStore.layerMemory, (shared) => Effect.gen(function* () {
      const { layer } = world.backend([S.toolCall("deploy", { version: "1" }), S.text("deployed")], { store: shared })
      const backend = yield* Effect.provide(AgentBackend.AgentBackend, layer)
      const store = yield* RunStore.RunStore
      const { pending } = suspended(yield* backend.run({ input: "ship", runId: "dead-owner" }))
      const state = Option.getOrThrow(yield* backend.getRun("dead-owner"))
      // What a resume that claimed the run and then died leaves behind: running, leased, the decision stored.
      const leftBehind = (expiresAt: number) =>
        store.save(
          new RunState.RunState({
            ...state,
            status: "running",
            lease: new RunState.Lease({ owner: "host:1:dead", expiresAt }),
            decisions: [Approval.approve(pending[0]!, { by: "alice" })]
          })
        )
      yield* leftBehind(Date.now() + 60_000)
      const busy = yield* backend.resume("dead-owner", []).pipe(Effect.flip)
      expect(busy).toMatchObject({ _tag: "RunBusy", runId: "dead-owner" })
      expect(world.executions).toEqual([])
      // The same lease, once its time has passed.
      yield* leftBehind(Date.now() - 1)
      const outcome = yield* backend.resume("dead-owner", [])
      expect(outcome).toMatchObject({ _tag: "Completed", text: "deployed" })
      expect(world.executions).toEqual([
        { tool: "deploy", args: { version: "1" }, idempotencyKey: `dead-owner:${pending[0]!.toolCallId}`, approvedBy: "alice" }
      ])
    }).pipe(Effect.provide(shared)))
  })

  it.live("a running state without a lease (written before leases) is never stuck: it can be resumed", () => {
    const world = makeWorld()
    return sharing(RunStore.layerMemory, (shared) => {
      const { layer } = world.backend([S.toolCall("note", { text: "a" }), S.text("done")], { store: shared })
      return Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const s = yield* RunStore.RunStore
        yield* s.save(
          initialState({ runId: "legacy", agent: "adversarial", status: "running", input: "go" })
        )
        expect(yield* backend.resume("legacy", [])).toMatchObject({ _tag: "Completed", text: "done" })
        expect(world.executions).toHaveLength(1)
      }).pipe(Effect.provide(Layer.merge(layer, shared)))
    })
  })

  it.live("an owner whose lease was taken over stops at its next write (RunLeaseLost) and runs nothing more", () => {
    const world = makeWorld()
    return sharing(RunStore.layerMemory, (shared) => Effect.gen(function* () {
      // Owner A: a short lease, held in the approved call past its expiry.
      const a = world.backend([S.toolCall("deploy", { version: "1" })], { store: shared, lease: Duration.millis(1000) })
      const b = world.backend([S.text("deployed by b")], { store: shared, lease: Duration.minutes(5) })
      const backendA = yield* Effect.provide(AgentBackend.AgentBackend, a.layer)
      const backendB = yield* Effect.provide(AgentBackend.AgentBackend, b.layer)
      const { pending } = suspended(yield* backendA.run({ input: "ship", runId: "fenced" }))
      const hold = world.holdAt("deploy:1")
      const ownerA = yield* Effect.forkChild(Effect.result(backendA.resume("fenced", [Approval.approve(pending[0]!, { by: "alice" })])))
      yield* Deferred.await(hold.reached)
      expect(yield* Effect.flip(backendB.resume("fenced", []))).toMatchObject({ _tag: "RunBusy" })
      const lease = Option.getOrThrow(yield* backendB.getRun("fenced")).lease!
      yield* Effect.sleep(Duration.millis(Math.max(0, lease.expiresAt - Date.now()) + 20))
      // A's lease expired: B recovers the run, runs the in-flight approved call again (same key) and completes.
      expect(yield* backendB.resume("fenced", [])).toMatchObject({ _tag: "Completed", text: "deployed by b" })
      yield* Deferred.succeed(hold.release, undefined)
      const resultA = yield* Fiber.join(ownerA)
      expect(Result.isFailure(resultA) && resultA.failure._tag).toBe("RunLeaseLost")
      expect(Option.getOrThrow(yield* backendB.getRun("fenced"))).toMatchObject({ status: "completed", outcome: { text: "deployed by b" } })
      const key = `fenced:${pending[0]!.toolCallId}`
      expect(world.executions.map((e) => [e.idempotencyKey, e.approvedBy])).toEqual([
        [key, "alice"],
        [key, "alice"]
      ])
      // The handler passes the key to an API that dedupes by it: one deployment.
      expect(world.api.effects).toEqual(["1"])
    }))
  })

  it.live("a live owner renews its lease at step boundaries, so a long run stays its own", () => {
    const world = makeWorld()
    const leaseMs = 1000
    return sharing(RunStore.layerMemory, (shared) =>
      Effect.gen(function* () {
        const a = world.backend([S.toolCall("note", { text: "1" }), S.text("done")], { store: shared, lease: Duration.millis(leaseMs) })
        const b = world.backend([], { store: shared })
        const backendA = yield* Effect.provide(AgentBackend.AgentBackend, a.layer)
        const backendB = yield* Effect.provide(AgentBackend.AgentBackend, b.layer)
        const leaseOf = Effect.map(backendB.getRun("long"), (state) => Option.getOrThrow(state).lease!)
        // Held in step 1 past half the lease: the next step boundary must renew it.
        const step1 = world.holdAt("model:1")
        const step2 = world.holdAt("model:2")
        const run = yield* Effect.forkChild(backendA.run({ input: "go", runId: "long" }))
        yield* Deferred.await(step1.reached)
        const claimed = yield* leaseOf
        yield* Effect.sleep(Duration.millis(leaseMs / 2 + 20))
        yield* Deferred.succeed(step1.release, undefined)
        yield* Deferred.await(step2.reached)
        const renewed = yield* leaseOf
        expect(renewed.owner).toBe(claimed.owner)
        expect(renewed.expiresAt).toBeGreaterThanOrEqual(claimed.expiresAt + leaseMs / 2)
        expect(yield* Effect.flip(backendB.resume("long", []))).toMatchObject({ _tag: "RunBusy" })
        yield* Deferred.succeed(step2.release, undefined)
        expect(yield* Fiber.join(run)).toMatchObject({ _tag: "Completed", text: "done" })
        expect(world.executions).toHaveLength(1)
      })
    )
  })
})

describe("expiry wins over a late decision", () => {
  it.live("a decision after expiry fails with ApprovalExpired, nothing runs, and the call ends denied as expired", () => {
    const world = makeWorld()
    const { layer } = world.backend([S.toolCall("deploy", { version: "1" }), S.text("not deployed")], {
      store: RunStore.layerMemory,
      approvals: Approval.layerSuspend({ expiresIn: Duration.millis(30) })
    })
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const { pending } = suspended(yield* backend.run({ input: "ship", runId: "late" }))
      yield* Effect.sleep(Duration.millis(60))
      const late = yield* backend.resume("late", [Approval.approve(pending[0]!, { by: "alice" })]).pipe(Effect.flip)
      expect(late).toMatchObject({ _tag: "ApprovalExpired", runId: "late", toolCallId: pending[0]!.toolCallId, expiredAt: pending[0]!.expiresAt })
      expect(world.executions).toEqual([])
      expect(Option.getOrThrow(yield* backend.getRun("late")).status).toBe("suspended")
      const events = yield* AgentBackend.outcomeOf(backend.resumeStream("late", []))
      expect(events).toEqual(Option.some(expect.objectContaining({ _tag: "Completed", text: "not deployed" })))
      const state = Option.getOrThrow(yield* backend.getRun("late"))
      const result = state.messages.find((m): m is Message.ToolMessage => m._tag === "ToolMessage")
      expect(result).toMatchObject({ isError: true, content: expect.stringContaining("the approval expired") })
      expect(world.executions).toEqual([])
      // The expired approval is gone: the same decision again is refused.
      expect(yield* backend.resume("late", [Approval.approve(pending[0]!)]).pipe(Effect.flip)).toMatchObject({ _tag: "RunNotResumable" })
    }).pipe(Effect.provide(layer))
  })
})

describe("edited state is not trusted", () => {
  const setup = (store: Layer.Layer<RunStore.RunStore>) => {
    const world = makeWorld()
    const { layer } = world.backend([S.toolCall("deploy", { version: "1.0" }), S.text("deployed")], { store })
    return { world, layer }
  }

  it.effect("changed arguments under the old digest: RunStateTampered, nothing runs, the run stays suspended", () =>
    sharing(RunStore.layerMemory, (shared) => {
    const { world, layer } = setup(shared)
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const store = yield* RunStore.RunStore
      const { pending } = suspended(yield* backend.run({ input: "ship", runId: "edited" }))
      const p = pending[0]!
      const state = Option.getOrThrow(yield* store.load("edited"))
      const edit = (changes: Partial<RunState.RunState>) => store.save(new RunState.RunState({ ...state, ...changes }))

      yield* edit({ pending: [new Approval.PendingApproval({ ...p, arguments: { version: "evil" } })] })
      const tampered = yield* backend.resume("edited", [Approval.approve(p)]).pipe(Effect.flip)
      expect(tampered).toMatchObject({ _tag: "RunStateTampered", toolCallId: p.toolCallId })
      expect(tampered.message).toContain("do not match their digest")

      // The digest recomputed to fit: the decision (given for the original arguments) no longer matches.
      yield* edit({
        pending: [new Approval.PendingApproval({ ...p, arguments: { version: "evil" }, argumentsDigest: Approval.argumentsDigest({ version: "evil" }) })]
      })
      expect(yield* backend.resume("edited", [Approval.approve(p)]).pipe(Effect.flip)).toMatchObject({ _tag: "InvalidApprovalDecision" })

      // The queued call renamed to another tool.
      yield* edit({ queue: [Message.toolCall({ id: p.toolCallId, name: "note", arguments: '{"text":"x"}' })] })
      expect(yield* backend.resume("edited", [Approval.approve(p)]).pipe(Effect.flip)).toMatchObject({
        _tag: "RunStateTampered",
        reason: expect.stringContaining('the queued call is "note"')
      })
      expect(world.executions).toEqual([])
      expect(Option.getOrThrow(yield* store.load("edited")).status).toBe("suspended")

      // Put back as it was, the run resumes and runs the approved arguments.
      yield* edit({})
      expect(yield* backend.resume("edited", [Approval.approve(p)])).toMatchObject({ _tag: "Completed" })
      expect(world.executions.map((e) => e.args)).toEqual([{ version: "1.0" }])
    }).pipe(Effect.provide(Layer.merge(layer, shared)))
  }))

  it.effect("a state file edited on disk: RunStateTampered, nothing runs", () => {
    const { dir, layer: store } = fileStore()
    const { world, layer } = setup(store)
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const { pending } = suspended(yield* backend.run({ input: "ship", runId: "on-disk" }))
      const file = join(dir, "on-disk.json")
      const json = JSON.parse(readFileSync(file, "utf8"))
      json.pending[0].arguments.version = "evil"
      writeFileSync(file, JSON.stringify(json))
      expect(yield* backend.resume("on-disk", [Approval.approve(pending[0]!)]).pipe(Effect.flip)).toMatchObject({ _tag: "RunStateTampered" })
      expect(world.executions).toEqual([])
    }).pipe(Effect.provide(layer))
  })

  it.effect("with an integrity key, any edit (even with a consistent digest) fails the load; the key never shows", () => {
    const secret = "integrity-key-0c6f1d2e9a"
    const key = Redacted.make(secret)
    const { dir, layer: store } = fileStore({ integrityKey: key })
    const { world, layer } = setup(store)
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const { pending } = suspended(yield* backend.run({ input: "ship", runId: "sealed" }))
      const file = join(dir, "sealed.json")
      const original = readFileSync(file, "utf8")
      expect(original).not.toContain(secret)
      const json = JSON.parse(original)
      json.pending[0].arguments.version = "evil"
      json.pending[0].argumentsDigest = Approval.argumentsDigest({ version: "evil" })
      writeFileSync(file, JSON.stringify(json))
      const edited = yield* backend.resume("sealed", [Approval.approve(pending[0]!)]).pipe(Effect.flip)
      expect(edited).toMatchObject({ _tag: "RunStateError", reason: expect.stringContaining("integrity check failed") })
      expect(JSON.stringify(edited) + edited.message).not.toContain(secret)

      // Written without the key (unsealed): refused too.
      const { seal: _seal, integrity: _integrity, ...unsealed } = JSON.parse(original)
      writeFileSync(file, JSON.stringify(unsealed))
      expect(yield* backend.getRun("sealed").pipe(Effect.flip)).toMatchObject({ reason: expect.stringContaining("no integrity seal") })

      // Sealed with another key: refused.
      const other = yield* Effect.provide(RunStore.RunStore, RunStore.layerFileSystem(dir, { integrityKey: Redacted.make("another key") }).pipe(Layer.provide(NodeServices.layer)))
      writeFileSync(file, original)
      expect(yield* other.load("sealed").pipe(Effect.flip)).toMatchObject({ _tag: "RunStateError" })
      expect(world.executions).toEqual([])

      // The untouched state resumes.
      expect(yield* backend.resume("sealed", [Approval.approve(pending[0]!)])).toMatchObject({ _tag: "Completed" })
      expect(world.executions.map((e) => e.args)).toEqual([{ version: "1.0" }])
    }).pipe(Effect.provide(layer))
  })
})
