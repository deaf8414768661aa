/**
 * What running an Effect `Stream` costs on its own, with nothing of agentloop in it: the floor under any
 * `Stream` of a run's events (`backend.stream`). Reported next to W1S and W3S so that a streaming target can
 * be read against what the Effect runtime makes possible at all. Measured on the `effect` agentloop runs on
 * (4.x); the Effect 3 figures the same code measured before the move are kept as constants, for reference.
 */
import { Deferred, Effect, Stream } from "effect"
import { createRequire } from "node:module"
import { gc, median, now, withPeakHeap } from "./harness.js"

/** The `effect` version the bench runs (agentloop's). */
export const effectVersion: string = (createRequire(import.meta.url)("effect/package.json") as { version: string }).version

/**
 * The same two floors on effect 3.22.4, measured by this file (then on both major versions side by side) in
 * the quiet `pnpm bench --write` of 2026-12-06 (docs/performance.md, Node 20): quoted, not measured here.
 */
export const effect3Floor = {
  version: "effect 3.22.4 (quoted: docs/performance.md, 2026-12-06)",
  /** µs per `Stream.runDrain(Stream.empty)` through `Effect.runPromise`. */
  streamUs: 118.1,
  /** µs per `Effect.void` through `Effect.runPromise`. */
  effectUs: 1.8,
  /** KB held by an in-flight `Stream.runDrain` of a one-element stream waiting on a `Deferred`. */
  streamKb: 23.9,
  /** KB held by a fiber waiting on the same. */
  fiberKb: 3.8
} as const

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
 * What a model step's answer costs to consume on its own, with no agentloop code, in one fiber (no
 * `runPromise` per step): µs per two-part step taken as an array (`Effect.succeed(parts)`, what
 * a whole-step `pushStep` hands the loop) and as a `Stream` run to the end (`Stream.runForEachArray` of
 * `Stream.fromArray(parts)`, the least a stream-only model's step costs). Fastest of `rounds` batches of 2,000.
 */
export const stepFloor = async (rounds: number): Promise<{ readonly arrayUs: number; readonly streamUs: number }> => {
  const parts: ReadonlyArray<unknown> = [{ _tag: "ToolCall" }, { _tag: "Finish" }]
  const batch = 2_000
  let seen = 0
  const steps = (step: () => Effect.Effect<unknown>) => {
    const go = (i: number): Effect.Effect<void> => (i === 0 ? Effect.void : Effect.flatMap(step(), () => go(i - 1)))
    return go(batch)
  }
  const fastest = async (step: () => Effect.Effect<unknown>) => {
    await Effect.runPromise(steps(step))
    let best = Infinity
    for (let r = 0; r < rounds; r++) {
      const start = now()
      await Effect.runPromise(steps(step))
      best = Math.min(best, ((now() - start) * 1000) / batch)
    }
    return best
  }
  const take = (array: ReadonlyArray<unknown>) => {
    for (let i = 0; i < array.length; i++) if (array[i] !== undefined) seen++
  }
  const arrayUs = await fastest(() => Effect.map(Effect.succeed(parts), take))
  const streamUs = await fastest(() =>
    Stream.runForEachArray(Stream.fromArray(parts), (array) => {
      take(array)
      return Effect.void
    })
  )
  if (seen === 0) throw new Error("nothing consumed")
  return { arrayUs, streamUs }
}

/**
 * KB of heap each in-flight consumer holds while it waits, `count` of them at once, measured after a full GC:
 * a plain fiber awaiting a `Deferred`, and `Stream.runDrain` of a one-element stream awaiting the same.
 */
export const inFlightRetained = async (count: number): Promise<{ readonly streamKb: number; readonly fiberKb: number }> => {
  const retained = async (make: (gate: Deferred.Deferred<void>) => Effect.Effect<unknown>) => {
    gc()
    const base = process.memoryUsage().heapUsed
    const gate = Effect.runSync(Deferred.make<void>())
    const done = Array.from({ length: count }, () => Effect.runPromise(make(gate)))
    await new Promise((resolve) => setTimeout(resolve, 20))
    gc()
    const kb = (process.memoryUsage().heapUsed - base) / count / 1024
    Effect.runSync(Deferred.succeed(gate, undefined))
    await Promise.all(done)
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
