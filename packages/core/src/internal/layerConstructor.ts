import type { Layer } from "effect"

/**
 * A layer that is also the function making it: `x` is the layer with its default options, `x(options)` one
 * with options. The rule for every `layer*` export of every package (checked by test/layer-constructors.test.ts):
 * no arguments, a layer value; all arguments optional, one of these; a required argument, a function.
 */
export type LayerConstructor<Args extends ReadonlyArray<unknown>, ROut, E = never, RIn = never> = Layer.Layer<ROut, E, RIn> &
  ((...args: Args) => Layer.Layer<ROut, E, RIn>)

export const layerConstructor = <Args extends ReadonlyArray<unknown>, ROut, E, RIn>(
  make: (...args: Args) => Layer.Layer<ROut, E, RIn>,
  ...defaults: NoInfer<Args>
): LayerConstructor<Args, ROut, E, RIn> => {
  const layer = make(...defaults)
  const constructor = (...args: Args) => make(...args)
  // Effect 4 recognises a layer by the type id on its prototype and builds it with its own `build` (which
  // memoizes under the default layer, so the value used twice in a graph is built once). The function gets
  // both as own properties and keeps Function.prototype (call, apply, bind).
  Object.defineProperties(constructor, Object.getOwnPropertyDescriptors(Object.getPrototypeOf(layer)))
  return Object.assign(constructor, layer) as LayerConstructor<Args, ROut, E, RIn>
}
