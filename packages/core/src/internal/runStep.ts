/**
 * How the loop runs a model step: pushed by the model (`pushStep`), else its `Stream` run to the end, folding
 * the parts into a `StepCollector` as they arrive.
 *
 * @internal
 */
import { Effect, Stream } from "effect"
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
 * Effect 3's own runner cost about twice the whole pull loop, so this was a hand-written pull in a scope of its
 * own; Effect 4's `Stream.runForEachArray` is that same pull loop (one scope, closed when the step ends or is
 * interrupted, releasing what the stream holds, e.g. an HTTP body).
 */
const consumeStream = <E>(
  stream: Stream.Stream<ResponsePart, E>,
  collector: StepCollector,
  ready: StepHandlers["ready"]
): Effect.Effect<void, E> =>
  Stream.runForEachArray(stream, (parts) => {
    for (let i = 0; i < parts.length; i++) collector.add(parts[i]!)
    // Backpressure between chunks: the consumer of the run's events is behind.
    return (ready === undefined ? undefined : ready()) ?? Effect.void
  })
