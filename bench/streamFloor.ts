/**
 * What running an Effect `Stream` costs on its own, with nothing of agentloop in it: the floor under any
 * `Stream` of a run's events (`backend.stream`). Reported next to W1S and W3S so that a streaming target can
 * be read against what the pinned Effect 3 runtime makes possible at all.
 */
import { Deferred, Effect, Fiber, Stream } from "effect"
import { gc, median, now, withPeakHeap } from "./harness.js"

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

/**
 * What the async-iterator protocol itself costs in peak heap, with no Effect and no agentloop: `count`
 * concurrent producers of W3's shape (6 steps 1 ms apart, 6 events per step), consumed by a callback or by
 * `for await` over a minimal iterator (a promise and an `IteratorResult` per event, one promise per wait).
 * KB per run, the median of three measurements each.
 */
export const asyncIteratorProtocolCost = async (count: number): Promise<{ readonly callbacksKb: number; readonly forAwaitKb: number }> => {
  const steps = 6
  const eventsPerStep = 6
  const produce = async (emit: (event: { readonly step: number; readonly index: number }) => void) => {
    for (let step = 0; step < steps; step++) {
      await new Promise((resolve) => setTimeout(resolve, 1))
      for (let index = 0; index < eventsPerStep; index++) emit({ step, index })
    }
  }
  class MinimalIterator implements AsyncIterator<unknown> {
    private readonly items: Array<unknown> = []
    private ended = false
    private waiting: ((result: IteratorResult<unknown>) => void) | undefined = undefined
    constructor() {
      void produce((event) => {
        this.items.push(event)
        this.wake()
      }).then(() => {
        this.ended = true
        this.wake()
      })
    }
    private wake() {
      const waiting = this.waiting
      if (waiting === undefined) return
      this.waiting = undefined
      waiting(this.items.length > 0 ? { done: false, value: this.items.shift() } : { done: true, value: undefined })
    }
    next(): Promise<IteratorResult<unknown>> {
      if (this.items.length > 0) return Promise.resolve({ done: false, value: this.items.shift() })
      if (this.ended) return Promise.resolve({ done: true, value: undefined })
      return new Promise((resolve) => {
        this.waiting = resolve
      })
    }
  }
  const variants = {
    callbacks: async () => {
      let seen = 0
      await produce(() => void seen++)
    },
    forAwait: async () => {
      for await (const _event of { [Symbol.asyncIterator]: () => new MinimalIterator() }) {
        // consumed
      }
    }
  }
  const peakKb = async (run: () => Promise<void>) => {
    for (let i = 0; i < 100; i++) await run()
    const { peakBytes } = await withPeakHeap(() => Promise.all(Array.from({ length: count }, run)))
    return peakBytes / count / 1024
  }
  const medianOf3 = async (run: () => Promise<void>) => median([await peakKb(run), await peakKb(run), await peakKb(run)])
  return { callbacksKb: await medianOf3(variants.callbacks), forAwaitKb: await medianOf3(variants.forAwait) }
}
