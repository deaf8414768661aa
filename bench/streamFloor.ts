/**
 * What running an Effect `Stream` costs on its own, with nothing of agentloop in it: the floor under any
 * `Stream` of a run's events (`backend.stream`). Reported next to W1S and W3S so that a streaming target can
 * be read against what the pinned Effect 3 runtime makes possible at all, and measured the same way on
 * Effect 4 (`effect-4`, a bench-only alias of `effect@4`; agentloop itself is on the 3.x line).
 */
import * as Effect3 from "effect"
import * as Effect4 from "effect-4"
import { createRequire } from "node:module"
import { gc, median, now, withPeakHeap } from "./harness.js"

const versionOf = (name: string): string => (createRequire(import.meta.url)(`${name}/package.json`) as { version: string }).version

/** The few calls both major versions spell alike. */
interface Runtime {
  readonly runPromise: (effect: any) => Promise<unknown>
  readonly runSync: (effect: any) => any
  readonly runFork: (effect: any) => unknown
  readonly effectVoid: unknown
  readonly streamEmpty: unknown
  readonly runDrain: (stream: any) => unknown
  readonly fromEffect: (effect: any) => unknown
  readonly makeDeferred: () => unknown
  readonly awaitDeferred: (deferred: any) => unknown
  readonly succeedDeferred: (deferred: any) => unknown
}

export const runtimes: ReadonlyArray<readonly [string, Runtime]> = [
  [
    `effect ${versionOf("effect")}`,
    {
      runPromise: Effect3.Effect.runPromise,
      runSync: Effect3.Effect.runSync,
      runFork: Effect3.Effect.runFork,
      effectVoid: Effect3.Effect.void,
      streamEmpty: Effect3.Stream.empty,
      runDrain: Effect3.Stream.runDrain,
      fromEffect: Effect3.Stream.fromEffect,
      makeDeferred: () => Effect3.Deferred.make<void>(),
      awaitDeferred: Effect3.Deferred.await,
      succeedDeferred: (deferred) => Effect3.Deferred.succeed(deferred, undefined)
    }
  ],
  [
    `effect ${versionOf("effect-4")}`,
    {
      runPromise: Effect4.Effect.runPromise,
      runSync: Effect4.Effect.runSync,
      runFork: Effect4.Effect.runFork,
      effectVoid: Effect4.Effect.void,
      streamEmpty: Effect4.Stream.empty,
      runDrain: Effect4.Stream.runDrain,
      fromEffect: Effect4.Stream.fromEffect,
      makeDeferred: () => Effect4.Deferred.make<void>(),
      awaitDeferred: Effect4.Deferred.await,
      succeedDeferred: (deferred) => Effect4.Deferred.succeed(deferred, undefined)
    }
  ]
]

/** µs per `Stream.runDrain(Stream.empty)` and per `Effect.void`, each through `Effect.runPromise` (fastest of `rounds` batches). */
export const runDrainEmpty = async (runtime: Runtime, rounds: number): Promise<{ readonly streamUs: number; readonly effectUs: number }> => {
  const batch = 2_000
  const fastest = async (make: () => unknown) => {
    for (let i = 0; i < batch; i++) await runtime.runPromise(make())
    let best = Infinity
    for (let r = 0; r < rounds; r++) {
      const start = now()
      for (let i = 0; i < batch; i++) await runtime.runPromise(make())
      best = Math.min(best, ((now() - start) * 1000) / batch)
    }
    return best
  }
  return { streamUs: await fastest(() => runtime.runDrain(runtime.streamEmpty)), effectUs: await fastest(() => runtime.effectVoid) }
}

/**
 * KB of heap each in-flight consumer holds while it waits, `count` of them at once, measured after a full GC:
 * a plain fiber awaiting a `Deferred`, and `Stream.runDrain` of a one-element stream awaiting the same.
 */
export const inFlightRetained = async (runtime: Runtime, count: number): Promise<{ readonly streamKb: number; readonly fiberKb: number }> => {
  const retained = async (make: (gate: unknown) => unknown) => {
    gc()
    const base = process.memoryUsage().heapUsed
    const gate = runtime.runSync(runtime.makeDeferred())
    const done = Array.from({ length: count }, () => runtime.runPromise(make(gate)))
    await new Promise((resolve) => setTimeout(resolve, 20))
    gc()
    const kb = (process.memoryUsage().heapUsed - base) / count / 1024
    runtime.runSync(runtime.succeedDeferred(gate))
    await Promise.all(done)
    return kb
  }
  return {
    fiberKb: await retained((gate) => runtime.awaitDeferred(gate)),
    streamKb: await retained((gate) => runtime.runDrain(runtime.fromEffect(runtime.awaitDeferred(gate))))
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
