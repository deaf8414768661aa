/**
 * Adversarial: leases shorter than a step's work. Two owners of one run share a store; the first runs slow
 * approved calls one after another (or together), the second tries to recover the run as soon as the lease
 * lets it. Every call checks, as it starts, that its owner holds a live lease and that its result is not
 * stored yet (`support/leases.ts`), so a call started on a lapsed lease, or run again after its result was
 * stored, shows; executions are counted exactly.
 */
import { Approval, RunStore } from "@agentloop/core"
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Fiber, Layer, Option, Schema } from "effect"
import * as fc from "fast-check"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { type Execution, makeLeaseWorld } from "./support/leases.js"
import { spawnScript } from "./support/spawn.js"

/** A fresh memory store, built once so that every owner (and the test) sees the same one. */
const sharedStore = Effect.map(Layer.build(Layer.fresh(RunStore.layerMemory)), (context) => Context.get(context, RunStore.RunStore))

const byCall = (executions: ReadonlyArray<Execution>) => {
  const calls = new Map<string, Array<Execution>>()
  for (const e of executions) calls.set(e.toolCallId, [...(calls.get(e.toolCallId) ?? []), e])
  return calls
}

describe("a step with more work than one lease", () => {
  it.live("lease 800 ms, three approved 600 ms calls one at a time: the owner renews before each call, the other owner never gets in, each call runs once", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const world = makeLeaseWorld({ durations: [600, 600, 600], sequential: true })
        const store = yield* sharedStore
        const decisions = yield* world.suspendRun(store, "three-calls")
        const a = yield* world.owner(store, "A", 800)
        const b = yield* world.owner(store, "B", 800)
        const ownerA = yield* Effect.forkChild(world.persist(a, "three-calls", decisions, 1))
        // B tries as soon as A has claimed, and again whenever the lease it saw expires.
        yield* Effect.sleep(Duration.millis(50))
        const ownerB = yield* Effect.forkChild(world.persist(b, "three-calls", [], 10))
        expect(yield* Fiber.join(ownerA)).toEqual(["Completed"])
        // B waited out every lease it saw, more than once, and never got in.
        const endsB = yield* Fiber.join(ownerB)
        expect(endsB.length).toBeGreaterThanOrEqual(2)
        expect(endsB.filter((end) => end !== "RunBusy" && end !== "RunNotResumable")).toEqual([])
        expect(world.executions.flatMap((e) => e.problems)).toEqual([])
        expect(world.executions.map((e) => [e.owner, e.toolCallId])).toEqual([
          ["A", "call_0"],
          ["A", "call_1"],
          ["A", "call_2"]
        ])
        expect(new Set(world.executions.map((e) => e.idempotencyKey)).size).toBe(3)
      })
    ), 20_000)

  it.live("a call outlives the lease: the other owner recovers the run; the first starts nothing more (RunLeaseLost); the others run once", () =>
    Effect.scoped(
      Effect.gen(function* () {
        // Lease 400 ms; the second call takes 750 ms, so the lease lapses while it runs.
        const world = makeLeaseWorld({ durations: [250, 750, 50], sequential: true })
        const store = yield* sharedStore
        const decisions = yield* world.suspendRun(store, "cut-off")
        const a = yield* world.owner(store, "A", 400)
        const b = yield* world.owner(store, "B", 10_000)
        const ownerA = yield* Effect.forkChild(world.persist(a, "cut-off", decisions, 1))
        yield* Effect.sleep(Duration.millis(50))
        const ownerB = yield* Effect.forkChild(world.persist(b, "cut-off", [], 5))
        expect(yield* Fiber.join(ownerA)).toEqual(["RunLeaseLost"])
        // B waits out A's lease (renewed once, before the second call), then recovers the run.
        const endsB = yield* Fiber.join(ownerB)
        expect(endsB.at(-1)).toBe("Completed")
        expect(endsB.slice(0, -1).every((end) => end === "RunBusy")).toBe(true)
        expect(world.executions.flatMap((e) => e.problems)).toEqual([])
        const calls = byCall(world.executions)
        // The first call's result was in the checkpoint A's renewal stored before the second call: B does not run it.
        expect(calls.get("call_0")!.map((e) => e.owner)).toEqual(["A"])
        // The call that was cut off runs again, with the same key (at least once for a call cut off)...
        expect(calls.get("call_1")!.map((e) => e.owner)).toEqual(["A", "B"])
        expect(new Set(calls.get("call_1")!.map((e) => e.idempotencyKey)).size).toBe(1)
        // ...and A, whose lease was taken over, never starts the third.
        expect(calls.get("call_2")!.map((e) => e.owner)).toEqual(["B"])
        const state = Option.getOrThrow(yield* store.load("cut-off"))
        expect(state.status).toBe("completed")
        expect(world.resultsOf(state).sort()).toEqual(["call_0", "call_1", "call_2"])
      })
    ), 20_000)
})

describe("property: random interleavings of two owners with leases shorter than calls", () => {
  const scenario = fc.record({
    durations: fc.array(fc.integer({ min: 5, max: 70 }), { minLength: 1, maxLength: 4 }),
    sequential: fc.boolean(),
    leaseA: fc.integer({ min: 20, max: 60 }),
    leaseB: fc.integer({ min: 20, max: 60 }),
    delayB: fc.integer({ min: 0, max: 100 })
  })

  it("no call starts without a live lease of its owner or after its result was stored; each approved call has exactly one execution that was not cut off", async () => {
    let round = 0
    await fc.assert(
      fc.asyncProperty(scenario, (params) =>
        Effect.runPromise(
          Effect.scoped(
            Effect.gen(function* () {
              const runId = `prop-${round++}`
              const world = makeLeaseWorld({ durations: params.durations, sequential: params.sequential })
              const store = yield* sharedStore
              const decisions = yield* world.suspendRun(store, runId)
              const a = yield* world.owner(store, "A", params.leaseA)
              const b = yield* world.owner(store, "B", params.leaseB)
              yield* Effect.all(
                [
                  world.persist(a, runId, decisions, 4),
                  Effect.andThen(Effect.sleep(Duration.millis(params.delayB)), world.persist(b, runId, [], 4))
                ],
                { concurrency: "unbounded" }
              )
              // Whatever the two left behind, a patient owner finishes it.
              const c = yield* world.owner(store, "C", 60_000)
              yield* world.persist(c, runId, decisions, 10)
              const state = Option.getOrThrow(yield* store.load(runId))
              expect(state.status).toBe("completed")
              const callIds = params.durations.map((_, i) => `call_${i}`)
              expect(world.resultsOf(state).sort()).toEqual(callIds)

              // No call started without a live lease of its own owner, or after its result was stored.
              expect(world.executions.flatMap((e) => e.problems)).toEqual([])
              const calls = byCall(world.executions)
              for (const id of callIds) {
                const executions = calls.get(id) ?? []
                // Every execution of one call has the same key.
                expect(new Set(executions.map((e) => e.idempotencyKey)).size).toBe(1)
                // Exactly one execution's result was stored by the claim that ran it; every other one was cut off
                // (its owner lost the lease before storing it), so without cut-offs each call runs exactly once.
                const kept = executions.filter((e) => e.claim !== undefined && world.stored.get(e.claim)?.has(id) === true)
                expect(kept).toHaveLength(1)
              }
            })
          )
        )
      ),
      { numRuns: 40 }
    )
  }, 120_000)
})

describe("across OS processes (file store)", () => {
  const ROUNDS = 20
  const script = join(import.meta.dirname, "support", "lease-process.ts")
  const dirs: Array<string> = []
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

  const start = (...args: ReadonlyArray<string>) => spawnScript(script, args).exited

  it(`${ROUNDS} rounds, two processes started together: lease 1 s, four approved 300 ms calls one at a time (together longer than the lease); the second process never gets in, each call runs once`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "agentloop-xlease-"))
    dirs.push(dir)
    const log = join(dir, "executions.log")
    const durations = [300, 300, 300, 300]
    const world = makeLeaseWorld({ durations, sequential: true })
    const runIds = Array.from({ length: ROUNDS }, (_, i) => `lease-${i}`)
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const context = yield* Layer.build(RunStore.layerFileSystem(dir).pipe(Layer.provide(NodeServices.layer)))
          const store = Context.get(context, RunStore.RunStore)
          for (const runId of runIds) {
            const decisions = yield* world.suspendRun(store, runId)
            writeFileSync(join(dir, `decisions-${runId}.json`), JSON.stringify(Schema.encodeSync(Schema.Array(Approval.ApprovalDecision))(decisions)))
          }
        })
      )
    )
    const args = (role: string) => [dir, role, `${ROUNDS}`, "1000", durations.join(","), log]
    const [first, second] = await Promise.all([start(...args("first")), start(...args("second"))])
    expect([first.code, first.stderr, second.code, second.stderr]).toEqual([0, "", 0, ""])
    const endsFirst = JSON.parse(first.stdout) as Array<{ runId: string; ends: Array<string> }>
    const endsSecond = JSON.parse(second.stdout) as Array<{ runId: string; ends: Array<string> }>
    expect(endsFirst.map((r) => r.ends)).toEqual(runIds.map(() => ["Completed"]))
    // The second process waited out every lease it saw and never got in.
    for (const { ends } of endsSecond) expect(ends.filter((end) => end !== "RunBusy" && end !== "RunNotResumable")).toEqual([])
    const lines = existsSync(log) ? readFileSync(log, "utf8").split("\n").filter((line) => line.length > 0) : []
    expect(lines).toEqual(runIds.flatMap((runId) => durations.map((_, i) => `${runId} call_${i} first []`)))
  }, 180_000)
})
