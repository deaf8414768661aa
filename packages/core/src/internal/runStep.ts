/**
 * How the loop runs a model step: pushed by the model (`pushStep`), else its `Stream` run to the end, folding
 * the parts into a `StepCollector` as they arrive.
 *
 * @internal
 */
import { type Cause, Channel, Effect, Pull, Result, Scope, type Stream } from "effect"
import type { ResponsePart, StepHandlers } from "./response.js"
import type { StepCollector } from "./stepCollector.js"

/** The part of `LanguageModel.Service` a step is run with (structural: this module sits below it). */
export interface Stepper<Request, E> {
  readonly streamStep: (request: Request) => Stream.Stream<ResponsePart, E>
  readonly pushStep?: ((request: Request, emit: (parts: ReadonlyArray<ResponsePart>) => void) => Effect.Effect<void, E>) | undefined
}

/**
 * Runs one model step now, folding its parts into `collector` as they arrive: through `pushStep` when the model
 * has it, else by running its `Stream`. The loop calls it from the continuation that asks for the step and
 * reads `collector.result()` in the one that receives its end (no Effect of its own per step).
 */
export const runStep = <Request, E>(
  model: Stepper<Request, E>,
  request: Request,
  collector: StepCollector,
  ready: StepHandlers["ready"]
): Effect.Effect<void, E> =>
  model.pushStep !== undefined
    ? model.pushStep(request, (parts) => {
        for (let i = 0; i < parts.length; i++) collector.add(parts[i]!)
      })
    : consumeStream(model.streamStep(request), collector, ready)

/**
 * Runs a step's `Stream`, folding each chunk into the collector as it arrives, with backpressure between chunks.
 * This is `Stream.runForEachArray` (a scope of its own for the stream, closed with the step's exit when the step
 * ends, fails or is interrupted, releasing what the stream holds, e.g. an HTTP body) written with fewer
 * Effects per step: the scope is closed by the one `onExit` (not a `Scope.close` Effect after it), the end of
 * the stream is caught once by a module-level function, and each chunk continues straight into the next pull
 * (no `Effect.void` in between). About 0.4 µs and 0.8 KB less per step (bench/notes.md, "Follow-up").
 *
 * Everything a suspended step holds is made here, once per step, with one closure scope shared by its three
 * functions and no `Effect.suspend` (the loop runs the Effect at once, from the continuation that asks for
 * the step; an empty scope left unclosed by an interruption before the `onExit` holds nothing): with
 * thousands of runs in flight what a step holds while the model answers is promoted to the old generation on
 * every step (bench/notes.md, "What a suspended step holds").
 */
const consumeStream = <E>(
  stream: Stream.Stream<ResponsePart, E>,
  collector: StepCollector,
  ready: StepHandlers["ready"]
): Effect.Effect<void, E> => {
  const scope = Scope.makeUnsafe()
  let next: Effect.Effect<void, E | Cause.Done>
  const onChunk = (chunk: ReadonlyArray<ResponsePart>): Effect.Effect<void, E | Cause.Done> => {
    for (let i = 0; i < chunk.length; i++) collector.add(chunk[i]!)
    // Backpressure between chunks: the consumer of the run's events is behind.
    const wait = ready === undefined ? undefined : ready()
    return wait === undefined ? next : Effect.flatMap(wait, () => next)
  }
  const parts = Effect.flatMap(Channel.toPullScoped(stream.channel, scope), (pull) => Effect.catchCause((next = Effect.flatMap(pull, onChunk)), endOfStream))
  // Run by `onExit` uninterruptibly; with no finalizer in the scope, closing it costs no Effect.
  return Effect.onExit(parts, (exit) => Scope.closeUnsafe(scope, exit) ?? Effect.void)
}

/** The stream's end is the step's success; any other failure stays (`Pull.catchDone` without its two closures). */
const endOfStream = <E>(cause: Cause.Cause<E | Cause.Done>): Effect.Effect<void, E> => {
  const done = Pull.filterDone(cause)
  return Result.isSuccess(done) ? Effect.void : Effect.failCause(done.failure)
}
