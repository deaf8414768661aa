import type { Layer } from "effect"

/**
 * A layer that is also the function making it: `x` is the layer with its default options, `x(options)` one
 * with options. Layers whose options are all optional are offered both ways, so the value form (Effect's
 * convention for a layer without options, e.g. `RunStore.layerMemory`) and the call form both work.
 */
export type LayerConstructor<Args extends ReadonlyArray<unknown>, ROut, E = never, RIn = never> = Layer.Layer<ROut, E, RIn> &
  ((...args: Args) => Layer.Layer<ROut, E, RIn>)

export const layerConstructor = <Args extends ReadonlyArray<unknown>, ROut, E, RIn>(
  make: (...args: Args) => Layer.Layer<ROut, E, RIn>,
  ...defaults: Args
): LayerConstructor<Args, ROut, E, RIn> => {
  const layer = make(...defaults)
  const constructor = (...args: Args) => make(...args)
  // The default layer's own fields (its `build`, which memoizes under the default layer) and its prototype
  // (the Layer type id, `pipe`): Effect sees a layer; calling it makes one.
  return Object.setPrototypeOf(Object.assign(constructor, layer), Object.getPrototypeOf(layer))
}
