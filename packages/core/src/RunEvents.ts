/**
 * A run's events, delivered to whoever consumes them: as an Effect `Stream` (what `AgentBackend.stream`
 * returns), or as an async iterator for code outside Effect (`for await (const event of ...)`). Callbacks
 * need nothing from here: `backend.run(input, { onEvent })` calls `onEvent` with every event, in order.
 *
 * All three share one mechanism: the loop pushes events synchronously into a bounded buffer, and the
 * consumer takes them a batch at a time, so the cost is per batch rather than per event. The buffer holds
 * at most `capacity` unread events (plus one model step's worth): while it is full, the run waits before
 * its next model step. A consumer that stops early (a `Stream.take`, a `break` out of `for await`)
 * interrupts the run, which is stored as `interrupted` and can be resumed.
 *
 * @since 0.1.0
 */
import { Cause, Channel, type Context, Effect, Exit, Fiber, Scope, Stream } from "effect"
import type { AgentEvent } from "./AgentEvent.js"
import { batches, EventBuffer, toPull } from "./internal/eventBuffer.js"

/** Unread events a run may be ahead of its consumer by, unless told otherwise. */
export const defaultCapacity = 256

/** What a run needs to report to a consumer: every event, and when to wait for it. */
export interface Sink {
  readonly onEvent: (event: AgentEvent) => void
  /** Undefined to go on at once, or an Effect to wait for (the consumer is `capacity` events behind). */
  readonly ready: () => Effect.Effect<void> | undefined
}

/** Starts a run that reports to the sink: e.g. `(sink) => backend.run(input, sink)`. */
export type Start<A, E, R> = (sink: Sink) => Effect.Effect<A, E, R>

const sinkOf = (buffer: EventBuffer<AgentEvent, unknown>): Sink => ({ onEvent: buffer.offer, ready: buffer.ready })

/**
 * The run's events as a `Stream`, one chunk per batch; the run starts when the stream is first pulled.
 *
 * Built for a small fixed cost per run (see docs/performance.md): a pull over the buffer (a batch already
 * there costs no Effect to take), the run forked as a detached fiber, and one finalizer on the stream's own
 * scope that interrupts the run when the consumer stops before the run ended.
 */
export const toStream = <E, R>(start: Start<unknown, E, R>, capacity: number = defaultCapacity): Stream.Stream<AgentEvent, E, R> =>
  Stream.fromChannel(
    Channel.fromTransform((_, scope) => {
      const buffer = new EventBuffer<AgentEvent, E>(capacity)
      const run = start(sinkOf(buffer as EventBuffer<AgentEvent, unknown>))
      // Uninterruptible from the fork to the finalizer, so the stream always knows the fiber it must stop; the
      // run itself is interruptible (a detached fiber is, unless told otherwise). The buffer learns the run's end
      // from an observer of its fiber (no `Effect.onExit` per run).
      return Effect.uninterruptible(
        Effect.flatMap(Effect.forkDetach(run), (fiber) => {
          fiber.addObserver((exit) => buffer.end(exit))
          // The consumer stopped early (a `take`, an interruption, a failure downstream): interrupt the run and
          // wait until it has stopped and stored its state.
          return Effect.as(
            Scope.addFinalizer(
              scope,
              Effect.suspend(() => (buffer.ended !== undefined ? Effect.void : Fiber.interrupt(fiber)))
            ),
            toPull<AgentEvent, E, AgentEvent>(buffer, batches)
          )
        })
      )
    })
  )

/**
 * The run's events for `for await`. A typed failure of the run is thrown as the error itself (e.g. a
 * `ModelError` with its `_tag`), never wrapped; `exit` settles with the run's `Exit`, typed. Leaving the
 * loop early (`break`, `return`, a throw) interrupts the run, which is stored as resumable; the iterator's
 * `return` resolves once the run has stopped and its state is stored.
 */
export interface RunIterable<A, E> extends AsyncIterable<AgentEvent> {
  /** How the run ended: its outcome, or its typed failure. Settles when the run stops. */
  readonly exit: Promise<Exit.Exit<A, E>>
}

/**
 * Runs `start` with the services in `context` (e.g. `yield* Effect.context<R>()`, or `Context.empty()`) and
 * iterates over its events (see `RunIterable`).
 */
export const toAsyncIterable = <A, E, R>(
  context: Context.Context<R>,
  start: Start<A, E, R>,
  capacity: number = defaultCapacity
): RunIterable<A, E> => new EventIterable(context, start, capacity)

const noEvents: ReadonlyArray<AgentEvent> = []
const doneResult: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined })

/**
 * One object per run for `for await`, cheap enough for thousands of runs in flight (see docs/performance.md):
 * the run is forked when iteration starts; per event one promise and one fresh `IteratorResult` (the
 * protocol's, which a caller may keep); per batch no closure and no extra promise (a waiting `next()` is
 * resolved directly by the buffer's wake-up); the `exit` promise is made only if someone reads it.
 */
class EventIterable<A, E, R> implements RunIterable<A, E>, AsyncIterator<AgentEvent> {
  private buffer: EventBuffer<AgentEvent, E> | undefined = undefined
  private fiber: Fiber.Fiber<A, E> | undefined = undefined
  private pending: ReadonlyArray<AgentEvent> = noEvents
  private index = 0
  private result: Exit.Exit<A, E> | undefined = undefined
  private exitPromise: Promise<Exit.Exit<A, E>> | undefined = undefined
  private settle: ((exit: Exit.Exit<A, E>) => void) | undefined = undefined
  private resolveNext: ((result: IteratorResult<AgentEvent>) => void) | undefined = undefined
  private rejectNext: ((error: unknown) => void) | undefined = undefined

  constructor(
    private readonly context: Context.Context<R>,
    private readonly start: Start<A, E, R>,
    private readonly capacity: number
  ) {}

  get exit(): Promise<Exit.Exit<A, E>> {
    if (this.exitPromise === undefined) {
      this.exitPromise =
        this.result !== undefined
          ? Promise.resolve(this.result)
          : new Promise((resolve) => {
              this.settle = resolve
            })
    }
    return this.exitPromise
  }

  [Symbol.asyncIterator](): AsyncIterator<AgentEvent> {
    this.begin()
    return this
  }

  private begin(): EventBuffer<AgentEvent, E> {
    if (this.buffer !== undefined) return this.buffer
    const buffer = (this.buffer = new EventBuffer<AgentEvent, E>(this.capacity))
    const fiber = (this.fiber = Effect.runForkWith(this.context)(this.start(sinkOf(buffer as EventBuffer<AgentEvent, unknown>))))
    // An observer of the fiber rather than an `Effect.onExit` around the run: no Effects per run for it.
    fiber.addObserver(this.onEnd)
    return buffer
  }

  private readonly onEnd = (exit: Exit.Exit<A, E>): void => {
    this.result = exit
    this.buffer!.end(exit)
    if (this.settle !== undefined) {
      this.settle(exit)
      this.settle = undefined
    }
  }

  next(): Promise<IteratorResult<AgentEvent>> {
    if (this.index < this.pending.length) return Promise.resolve({ done: false, value: this.taken() })
    const buffer = this.begin()
    if (buffer.size > 0 || buffer.ended !== undefined) return this.settled(buffer)
    return new Promise((resolve, reject) => {
      this.resolveNext = resolve
      this.rejectNext = reject
      buffer.onAvailable(this.wake, true)
    })
  }

  /** The buffer has an event or the end: the waiting `next()` settles with it. */
  private readonly wake = (): void => {
    const resolve = this.resolveNext!
    const reject = this.rejectNext!
    this.resolveNext = this.rejectNext = undefined
    const buffer = this.buffer!
    // Woken by the first event of a batch, synchronously: hand it over alone; the rest of the batch is
    // drained by the next `next()`, after the producer's synchronous run.
    if (buffer.size > 0) return resolve({ done: false, value: buffer.takeFirst() })
    const ended = buffer.ended!
    if (Exit.isSuccess(ended)) resolve(doneResult)
    else reject(thrown(ended.cause))
  }

  /**
   * The next drained event. The batch is let go with its last event: kept across the run's next model
   * step, a batch would outlive young-generation collections and be promoted with every event in it.
   */
  private taken(): AgentEvent {
    const value = this.pending[this.index++]!
    if (this.index === this.pending.length) {
      this.pending = noEvents
      this.index = 0
    }
    return value
  }

  private settled(buffer: EventBuffer<AgentEvent, E>): Promise<IteratorResult<AgentEvent>> {
    if (buffer.size > 0) {
      this.pending = buffer.drain()
      this.index = 0
      return Promise.resolve({ done: false, value: this.taken() })
    }
    const ended = buffer.ended!
    return Exit.isSuccess(ended) ? Promise.resolve(doneResult) : Promise.reject(thrown(ended.cause))
  }

  async return(): Promise<IteratorResult<AgentEvent>> {
    if (this.buffer !== undefined && this.buffer.ended === undefined) await Effect.runPromise(Fiber.interrupt(this.fiber!))
    return doneResult
  }
}

/** The error `for await` throws: a typed failure as itself; a defect or an interruption squashed. */
const thrown = <E>(cause: Cause.Cause<E>): unknown => {
  const failure = Cause.findErrorOption(cause)
  return failure._tag === "Some" ? failure.value : Cause.squash(cause)
}
