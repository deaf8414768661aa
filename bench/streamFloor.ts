/**
 * What running an Effect `Stream` costs on its own, with nothing of agentloop in it: the floor under any
 * `Stream` of a run's events (`backend.stream`). Reported next to W1S and W3S so that a streaming target can
 * be read against what the pinned Effect 3 runtime makes possible at all.
 */
import { Deferred, Effect, Fiber, Stream } from "effect"
import { gc, now } from "./harness.js"

/** µs per `Stream.runDrain(Stream.empty)` and per `Effect.void`, each through `Effect.runPromise` (fastest of `rounds` batches). */
export const runDrainEmpty = async (rounds: number): Promise<{ readonly streamUs: number; readonly effectUs: number }> => {
  const batch = 2_000
  const fastest = async (make: () => Effect.Effect<void>) => {
    for (let i = 0; i < batch; i++) await Effect.runPromise(make())
    let best = Infinity
    for (let r = 0; r < rounds; r++) {
      const start = now()
      for (let i = 0; i < batch; i++) await Effect.runPromise(make())
      best = Math.min(best, ((now() - start) * 1000) / batch)
    }
    return best
  }
  return { streamUs: await fastest(() => Stream.runDrain(Stream.empty)), effectUs: await fastest(() => Effect.void) }
}

/**
 * KB of heap each in-flight consumer holds while it waits, `count` of them at once, measured after a full GC:
 * a plain fiber awaiting a `Deferred`, and `Stream.runDrain` of a one-element stream awaiting the same.
 */
export const inFlightRetained = async (count: number): Promise<{ readonly streamKb: number; readonly fiberKb: number }> => {
  const retained = async (make: (gate: Deferred.Deferred<void>) => Effect.Effect<void>) => {
    gc()
    const base = process.memoryUsage().heapUsed
    const gate = Effect.runSync(Deferred.make<void>())
    const fibers = Array.from({ length: count }, () => Effect.runFork(make(gate)))
    await new Promise((resolve) => setTimeout(resolve, 20))
    gc()
    const kb = (process.memoryUsage().heapUsed - base) / count / 1024
    Effect.runSync(Deferred.succeed(gate, undefined))
    await Effect.runPromise(Fiber.awaitAll(fibers))
    return kb
  }
  return {
    fiberKb: await retained((gate) => Deferred.await(gate)),
    streamKb: await retained((gate) => Stream.runDrain(Stream.fromEffect(Deferred.await(gate))))
  }
}
