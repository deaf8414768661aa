/**
 * The queue between a run and whoever consumes its events: a bounded buffer of plain values with no Effect
 * per event. The loop pushes events synchronously (`offer`); the consumer takes everything buffered at once
 * (`drain`, one chunk per batch). Backpressure: before each model step (and each chunk of a streamed step)
 * the loop asks `ready()`, which makes it wait while `capacity` events are still unread, so a slow consumer
 * holds at most `capacity` events plus one step's worth.
 *
 * `@agentloop/wire` uses the same buffer (and `toPull`) between an HTTP body's reader fiber and its consumer.
 *
 * @internal
 */
import type { Array as Arr, Pull as EffectPull } from "effect"
import { Cause, Channel, Effect, Exit } from "effect"

type Resume<A> = (effect: Effect.Effect<A, never>) => void

export class EventBuffer<A, E> {
  private items: Array<A> = []
  private exit: Exit.Exit<unknown, E> | undefined = undefined
  private consumer: (() => void) | undefined = undefined
  private producer: Resume<void> | undefined = undefined
  private wakeScheduled = false
  private wakeAtOnce = false

  constructor(readonly capacity: number) {}

  /** How many events wait to be taken. */
  get size(): number {
    return this.items.length
  }

  /** Called by the loop with every event, synchronously. Never blocks: `ready` is where it waits. */
  readonly offer = (item: A): void => {
    // After the end nothing more is taken: a body failed by its deadline must not go on delivering reads.
    if (this.exit !== undefined) return
    this.items.push(item)
    // Wake a waiting consumer once per batch, after the producer's synchronous run: one hop per batch.
    if (this.consumer !== undefined && !this.wakeScheduled) {
      if (this.wakeAtOnce) return this.wakeNow()
      this.wakeScheduled = true
      queueMicrotask(this.wake)
    }
  }

  /** Undefined when the loop may go on at once; otherwise an Effect that waits until the consumer took the events. */
  readonly ready = (): Effect.Effect<void> | undefined =>
    this.items.length < this.capacity
      ? undefined
      : Effect.callback<void>((resume) => {
          this.producer = resume
          this.wakeNow()
          return Effect.sync(() => {
            this.producer = undefined
          })
        })

  /** The producer ended (with its outcome, a typed failure, a defect or an interruption); the first end counts. */
  end(exit: Exit.Exit<unknown, E>): void {
    if (this.exit !== undefined) return
    this.exit = exit
    this.wakeNow()
  }

  /** Takes the buffered events (releasing a producer that waits for room). */
  drain(): Array<A> {
    const items = this.items
    this.items = []
    const producer = this.producer
    if (producer !== undefined) {
      this.producer = undefined
      producer(Effect.void)
    }
    return items
  }

  /** How the producer ended, once it has (after every event was taken, for the consumer). */
  get ended(): Exit.Exit<unknown, E> | undefined {
    return this.exit
  }

  /** Takes the oldest buffered event alone (there must be one). */
  takeFirst(): A {
    return this.items.shift()!
  }

  /**
   * Waits until an event or the end is available (for consumers that are not Effect streams). `atOnce`: call
   * back synchronously on the first event, for a consumer that only settles a promise (its reaction runs
   * after the producer's synchronous run anyway); otherwise once per batch, in a microtask.
   */
  onAvailable(callback: () => void, atOnce = false): void {
    if (this.items.length > 0 || this.exit !== undefined) return callback()
    this.consumer = callback
    this.wakeAtOnce = atOnce
  }

  /**
   * Waits until an event or the end is available (made on first use: a `for await` consumer never needs it).
   * A wait makes no closure of its own: the waiting fiber's `resume` is kept in a field and the wake-up and the
   * cancellation are made once per buffer (a stream consumer waits once per model step, and with thousands of
   * runs in flight whatever a wait holds outlives young-generation collections: bench/notes.md).
   */
  get available(): Effect.Effect<void> {
    return (this.availableEffect ??= Effect.callback<void>(this.waitAvailable))
  }
  private availableEffect: Effect.Effect<void> | undefined = undefined
  private resumeConsumer: Resume<void> | undefined = undefined
  private readonly waitAvailable = (resume: Resume<void>): Effect.Effect<void> => {
    this.resumeConsumer = resume
    this.onAvailable(this.consumerAvailable)
    return (this.cancelWait ??= Effect.sync(() => {
      this.consumer = undefined
      this.resumeConsumer = undefined
    }))
  }
  private cancelWait: Effect.Effect<void> | undefined = undefined
  private readonly consumerAvailable = (): void => {
    const resume = this.resumeConsumer!
    this.resumeConsumer = undefined
    resume(Effect.void)
  }

  private readonly wake = (): void => {
    this.wakeScheduled = false
    this.wakeNow()
  }

  private wakeNow(): void {
    const consumer = this.consumer
    if (consumer !== undefined) {
      this.consumer = undefined
      consumer()
    }
  }
}

/**
 * One pull of a batch consumer: the next non-empty chunk, or the end (a `Cause.Done` failure), or the
 * producer's failure (Effect 4's pull-based streams: `Stream.fromPull`, `Channel.fromPull`).
 */
export type Pull<E, Out> = EffectPull.Pull<Arr.NonEmptyReadonlyArray<Out>, E, void>

/** The last items a reader writes, and how the stream ends after them (a success: done; a failure: that cause). */
export interface Ending<E, Out> {
  readonly items: ReadonlyArray<Out>
  readonly exit: Exit.Exit<unknown, E>
}

/** Makes an `Ending`: `items` (possibly none), then the end `exit`. */
export const ending = <E, Out>(items: ReadonlyArray<Out>, exit: Exit.Exit<unknown, E>): Ending<E, Out> => ({ items, exit })

/**
 * A consumer of the buffer, called synchronously in the consumer's fiber, with no Effect per batch: each batch
 * taken (one or more items, in order) becomes the items to write (none: read on) or an `Ending` (these items,
 * then the stream ends); the producer's failure and its end each become an `Ending`.
 */
export interface BatchReader<A, E, Out> {
  readonly onBatch: (batch: Array<A>) => ReadonlyArray<Out> | Ending<E, Out>
  readonly onFailure: (cause: Cause.Cause<E>) => Ending<E, Out>
  readonly onDone: () => Ending<E, Out>
}

/**
 * The buffer as a pull: a batch already there is handed to `reader.onBatch` with no Effect (only waiting for
 * one is an Effect), and events buffered before the end are all delivered before it. One pull per consumer.
 */
export const toPull = <A, E, Out>(buffer: EventBuffer<A, E>, reader: BatchReader<A, E, Out>): Pull<E, Out> => {
  /** Set once the stream must end (after the items written with the end). */
  let end: Effect.Effect<never, E | Cause.Done> | undefined
  const finish = (last: Ending<E, Out>): Pull<E, Out> => {
    const ended: Effect.Effect<never, E | Cause.Done> = Exit.isSuccess(last.exit) ? Cause.done() : (last.exit as Exit.Exit<never, E>)
    end = ended
    return last.items.length > 0 ? Effect.succeed(last.items as Arr.NonEmptyReadonlyArray<Out>) : ended
  }
  const loop: Pull<E, Out> = Effect.suspend((): Pull<E, Out> => {
    if (end !== undefined) return end
    while (buffer.size > 0) {
      const written = reader.onBatch(buffer.drain())
      if (!isArray(written)) return finish(written)
      if (written.length > 0) return Effect.succeed(written as Arr.NonEmptyReadonlyArray<Out>)
    }
    const ended = buffer.ended
    if (ended === undefined) return wait
    return finish(Exit.isSuccess(ended) ? reader.onDone() : reader.onFailure(ended.cause))
  })
  // Waiting for the next batch is the same Effect every time: made once.
  const wait: Pull<E, Out> = Effect.flatMap(buffer.available, () => loop)
  return loop
}

const isArray = Array.isArray as <Out>(value: ReadonlyArray<Out> | object) => value is ReadonlyArray<Out>

/** The buffer as a channel of chunks (`Stream.fromChannel(pull(buffer, reader))`), a pull of its own per run. */
export const pull = <A, E, Out>(
  buffer: EventBuffer<A, E>,
  reader: BatchReader<A, E, Out>
): Channel.Channel<Arr.NonEmptyReadonlyArray<Out>, E, void, unknown, unknown, unknown> =>
  Channel.fromPull(Effect.sync(() => toPull(buffer, reader)))

const done: Ending<never, never> = ending([], Exit.void)

/** The reader that writes each batch as one chunk, as it is. */
export const batches: BatchReader<any, any, any> = {
  onBatch: (batch) => batch,
  onFailure: (cause) => ending([], Exit.failCause(cause)),
  onDone: () => done
}
