import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { ClusterError, RunnerAddress, RunnerStorage, ShardId } from "effect/cluster"
import { coalesceRefresh } from "../src/internal/clusterStorage.js"

const self = RunnerAddress.make("127.0.0.1", 34431)
const shard = (n: number) => ShardId.make("default", n)

/**
 * A runner storage whose `refresh` records the shards asked for, waits for `gate`, then answers with the
 * shards in `held` (or fails once when `failNext` is set).
 */
const fakeStorage = Effect.gen(function* () {
  const memory = yield* RunnerStorage.makeMemory
  const calls: Array<Array<string>> = []
  const state = { gate: yield* Deferred.make<void>(), held: new Set<string>(), failNext: false }
  const storage: RunnerStorage.RunnerStorage["Service"] = {
    ...memory,
    refresh: (_address, shardIds) =>
      Effect.suspend(() => {
        const asked = Array.from(shardIds)
        calls.push(asked.map(String))
        return Effect.andThen(Deferred.await(state.gate), () => {
          if (state.failNext) {
            state.failNext = false
            return Effect.fail(new ClusterError.PersistenceError({ cause: new Error("connection reset") }))
          }
          return Effect.succeed(asked.filter((id) => state.held.has(String(id))))
        })
      })
  }
  return { storage, calls, state }
})

const fork = <A, E>(effect: Effect.Effect<A, E>) => Effect.forkChild(effect, { startImmediately: true })

describe("the cluster's runner storage: lock refreshes coalesced", () => {
  it.effect("100 concurrent single-shard refreshes (a busy runner's lock confirmations) take 2 storage refreshes; each caller gets its own shards, held or not", () =>
    Effect.gen(function* () {
      const { storage, calls, state } = yield* fakeStorage
      const coalesced = yield* coalesceRefresh(storage)
      for (let n = 1; n <= 100; n += 2) state.held.add(String(shard(n)))
      const first = yield* fork(coalesced.refresh(self, [shard(1)]))
      const rest = yield* Effect.forEach(Array.from({ length: 99 }, (_, i) => i + 2), (n) => fork(coalesced.refresh(self, [shard(n)])))
      // The first is running; the 99 others wait for one refresh of all their shards.
      expect(calls).toEqual([[String(shard(1))]])
      yield* Deferred.succeed(state.gate, undefined)
      expect((yield* Fiber.join(first)).map(String)).toEqual([String(shard(1))])
      const answers = yield* Effect.forEach(rest, (fiber) => Fiber.join(fiber))
      expect(answers.map((held) => held.map(String))).toEqual(
        Array.from({ length: 99 }, (_, i) => i + 2).map((n) => (n % 2 === 1 ? [String(shard(n))] : []))
      )
      expect(calls).toHaveLength(2)
      expect(calls[1]).toHaveLength(99)
      // Nothing pending: the next refresh runs at once, on its own.
      expect((yield* coalesced.refresh(self, [shard(3), shard(4)])).map(String)).toEqual([String(shard(3))])
      expect(calls).toHaveLength(3)
    }))

  it.effect("a failed refresh fails the callers of its batch, and only them; a caller interrupted at its deadline stops no one else", () =>
    Effect.gen(function* () {
      const { storage, calls, state } = yield* fakeStorage
      const coalesced = yield* coalesceRefresh(storage)
      state.held.add(String(shard(2)))
      state.failNext = true
      const failing = yield* fork(coalesced.refresh(self, [shard(1)]))
      const interrupted = yield* fork(coalesced.refresh(self, [shard(2)]))
      const waiting = yield* fork(coalesced.refresh(self, [shard(2)]))
      yield* Fiber.interrupt(interrupted)
      yield* Deferred.succeed(state.gate, undefined)
      const failed = yield* Fiber.await(failing)
      expect(Exit.isFailure(failed) && String(failed.cause)).toMatch(/PersistenceError/)
      expect((yield* Fiber.join(waiting)).map(String)).toEqual([String(shard(2))])
      expect(calls).toEqual([[String(shard(1))], [String(shard(2))]])
    }))

  it.effect("an empty refresh (effect/cluster's liveness probe) is not coalesced: it goes straight to the storage", () =>
    Effect.gen(function* () {
      const { storage, calls, state } = yield* fakeStorage
      const coalesced = yield* coalesceRefresh(storage)
      const busy = yield* fork(coalesced.refresh(self, [shard(1)]))
      const probe = yield* fork(coalesced.refresh(self, []))
      expect(calls).toEqual([[String(shard(1))], []])
      yield* Deferred.succeed(state.gate, undefined)
      expect(yield* Fiber.join(probe)).toEqual([])
      yield* Fiber.join(busy)
    }))
})
