/**
 * How the loop runs a model step: pushed by the model (`pushStep`), else its `Stream` run to the end, folding
 * the parts into a `StepCollector` as they arrive.
 *
 * @internal
 */
import { type Cause, Channel, Effect, type Exit, Pull, Result, Scope, type Stream } from "effect"
import type { ResponsePart, StepHandlers } from "./response.js"
import type { StepCollector } from "./stepCollector.js"

/** The part of `LanguageModel.Service` a step is run with (structural: this module sits below it). */
export interface Stepper<Request, E> {
  readonly streamStep: (request: Request) => Stream.Stream<ResponsePart, E>
  readonly pushStep?: ((request: Request, emit: (parts: ReadonlyArray<ResponsePart>) => void) => Effect.Effect<void, E>) | undefined
}

/**
 * Runs one model step now, folding its parts into `collector` as they arrive: through `pushStep` when the model
 * has it, else by running its `Stream`. `collectStep` reads `collector.result()` once the Effect succeeds.
 */
export const runStep = <Request, E>(
  model: Stepper<Request, E>,
  request: Request,
  collector: StepCollector,
  ready: StepHandlers["ready"]
): Effect.Effect<void, E> => new StepLoop(model, collector, ready).run(request)

/**
 * Runs a model's steps, one after another, into one collector (reset at the start of each step). The loop keeps
 * one per run and calls `run` from the continuation that asks for a step, reading `collector.result()` in the
 * one that receives its end (no Effect of its own per step).
 *
 * A streamed step is `Stream.runForEachArray` (a scope of its own for the stream, closed with the step's exit
 * when the step ends, fails or is interrupted, releasing what the stream holds, e.g. an HTTP body) written with
 * fewer Effects: the scope is closed by the one `onExit` (not a `Scope.close` Effect after it), the end of the
 * stream is caught once by a module-level function, and each chunk continues straight into the next pull (no
 * `Effect.void` in between): about 0.4 µs and 0.8 KB less per step (bench/notes.md, "Follow-up"). Its
 * continuations are made once per run, not per step: with thousands of runs in flight, whatever a step makes
 * and holds while the model answers outlives young-generation collections and is promoted on every step
 * (bench/notes.md, "What a suspended step holds").
 */
export class StepLoop<Request, E> {
  /** The stream of the step under way, and the scope it runs in (undefined between steps). */
  private scope: Scope.Closeable | undefined = undefined
  private next: Effect.Effect<void, E | Cause.Done> | undefined = undefined

  constructor(
    private readonly model: Stepper<Request, E>,
    readonly collector: StepCollector,
    private readonly ready: StepHandlers["ready"]
  ) {}

  /** One step, run when the Effect is (the loop runs it at once; `collectStep` makes it lazy). */
  run(request: Request): Effect.Effect<void, E> {
    this.collector.reset()
    const model = this.model
    if (model.pushStep !== undefined) return model.pushStep(request, this.emit)
    const scope = (this.scope = Scope.makeUnsafe())
    // An interruption before the `onExit` leaves an empty scope unclosed, which holds nothing.
    return Effect.onExit(Effect.flatMap(Channel.toPullScoped(model.streamStep(request).channel, scope), this.onPull), this.onExit)
  }

  private readonly emit = (parts: ReadonlyArray<ResponsePart>): void => {
    for (let i = 0; i < parts.length; i++) this.collector.add(parts[i]!)
  }

  private readonly onPull = (pull: Effect.Effect<ReadonlyArray<ResponsePart>, E | Cause.Done>): Effect.Effect<void, E> =>
    Effect.catchCause((this.next = Effect.flatMap(pull, this.onChunk)), endOfStream)

  private readonly onChunk = (chunk: ReadonlyArray<ResponsePart>): Effect.Effect<void, E | Cause.Done> => {
    for (let i = 0; i < chunk.length; i++) this.collector.add(chunk[i]!)
    // Backpressure between chunks: the consumer of the run's events is behind.
    const wait = this.ready === undefined ? undefined : this.ready()
    return wait === undefined ? this.next! : Effect.flatMap(wait, this.pullNext)
  }

  private readonly pullNext = (): Effect.Effect<void, E | Cause.Done> => this.next!

  // Run by `onExit` uninterruptibly; with no finalizer in the scope, closing it costs no Effect. The step's
  // stream is let go here, before its tools run.
  private readonly onExit = (exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> => {
    const scope = this.scope!
    this.scope = undefined
    this.next = undefined
    return Scope.closeUnsafe(scope, exit) ?? Effect.void
  }
}

/** The stream's end is the step's success; any other failure stays (`Pull.catchDone` without its two closures). */
const endOfStream = <E>(cause: Cause.Cause<E | Cause.Done>): Effect.Effect<void, E> => {
  const done = Pull.filterDone(cause)
  return Result.isSuccess(done) ? Effect.void : Effect.failCause(done.failure)
}
