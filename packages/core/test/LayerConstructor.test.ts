/**
 * A callable layer (internal/layerConstructor.ts: `Approval.layerSuspend`, `Tracing.layer`, ...) is a layer to
 * Effect 4 in every way a layer is used: recognised, composed, piped, memoized (the value used twice in one
 * graph is built once), and a function that makes layers with options.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, ManagedRuntime, pipe } from "effect"
import { layerConstructor } from "../src/internal/layerConstructor.js"

class Counter extends Context.Service<Counter, { readonly n: number }>()("test/Counter") {}
class Plus extends Context.Service<Plus, { readonly m: number }>()("test/Plus") {}

const make = () => {
  const builds = { count: 0 }
  const counter = layerConstructor((options?: { readonly n?: number }) =>
    Layer.effect(Counter, Effect.sync(() => {
      builds.count++
      return { n: options?.n ?? 0 }
    }))
  )
  const plus = Layer.effect(Plus, Effect.map(Effect.service(Counter), (c) => ({ m: c.n + 1 })))
  return { builds, counter, plus }
}
const both = Effect.all([Effect.service(Counter), Effect.service(Plus)])

describe("callable layers", () => {
  it("are layers, and functions returning layers (Function.prototype kept)", () => {
    const { counter } = make()
    expect(Layer.isLayer(counter)).toBe(true)
    expect(typeof counter).toBe("function")
    expect(Layer.isLayer(counter())).toBe(true)
    expect(Layer.isLayer(counter({ n: 1 }))).toBe(true)
    expect(Layer.isLayer(counter.bind(undefined)({ n: 1 }))).toBe(true)
    expect(Layer.isLayer(counter.pipe(Layer.provideMerge(Layer.empty)))).toBe(true)
  })

  it.effect("the value used twice in one graph (merge, provide, provideMerge, pipe) is built once", () =>
    Effect.gen(function* () {
      const { builds, counter, plus } = make()
      const [c, p] = yield* both.pipe(Effect.provide(Layer.mergeAll(counter, Layer.provide(plus, counter), pipe(plus, Layer.provideMerge(counter)))))
      expect([c.n, p.m]).toEqual([0, 1])
      expect(builds.count).toBe(1)
    }))

  it.effect("options given by a call reach the layer; each call is a layer of its own", () =>
    Effect.gen(function* () {
      const { builds, counter, plus } = make()
      const [c, p] = yield* both.pipe(Effect.provide(Layer.merge(counter({ n: 5 }), plus.pipe(Layer.provide(counter({ n: 5 }))))))
      expect([c.n, p.m]).toEqual([5, 6])
      expect(builds.count).toBe(2)
    }))

  it.effect("Layer.fresh and ManagedRuntime build it like any layer", () =>
    Effect.gen(function* () {
      const { builds, counter, plus } = make()
      yield* Effect.service(Counter).pipe(Effect.provide(Layer.fresh(counter)))
      expect(builds.count).toBe(1)
      const runtime = ManagedRuntime.make(Layer.mergeAll(counter, plus.pipe(Layer.provide(counter))))
      const [, p] = yield* Effect.promise(() => runtime.runPromise(both))
      yield* Effect.promise(() => runtime.dispose())
      expect(p.m).toBe(1)
      expect(builds.count).toBe(2)
    }))

  const { counter } = make()
  it.layer(counter)("as @effect/vitest's it.layer", (it) => {
    it.effect("provides the service", () => Effect.map(Effect.service(Counter), (c) => expect(c.n).toBe(0)))
  })
})
