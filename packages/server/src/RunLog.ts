/**
 * A run's served events, numbered from 1, shared by every client that follows the run. A client is only a
 * cursor (the number of the last event it got), so a slow or stalled client holds no queue of its own: the
 * memory a run costs does not grow with its clients, nor with how far behind they are. A reconnecting client
 * sends its cursor as `Last-Event-ID` and gets exactly the events after it: nothing lost, nothing twice.
 *
 * The log keeps the last `capacity` events of a run; a client whose cursor is older than the oldest kept
 * event is told so with a `gap` frame naming the missing numbers before the events that follow.
 *
 * @since 0.1.0
 */
import { Effect, Option, Stream } from "effect"
import type { Frame } from "./Model.js"

/** One served event: its number, when it was served (epoch ms) and its SSE frame (JSON encoded once). */
export interface Entry {
  readonly seq: number
  readonly at: number
  readonly frame: Frame
}

/** The most frames handed to one client at a time (a reconnect replaying a long log goes in steps of this). */
export const batchSize = 32

/**
 * The most characters of frame data handed to one client at a time, besides `batchSize` (a batch always
 * has at least one frame). A stalled client holds about two batches (one in the socket's buffer, one being
 * written), so with large events (a long tool result) frames alone would not bound what it holds.
 */
export const batchChars = 64 * 1024

/** Events a run's log keeps unless told otherwise. */
export const defaultCapacity = 10_000

export class RunLog {
  private entries: Array<Entry> = []
  /** The number of `entries[0]`. */
  private first = 1
  private waiters: Array<() => void> = []
  private wakeScheduled = false
  private endedFlag = false

  constructor(readonly capacity: number = defaultCapacity) {}

  /** The number of the last event (0 before the first). */
  get last(): number {
    return this.first + this.entries.length - 1
  }

  /** No more events are expected (the run finished); followers stop once they have read everything. */
  get ended(): boolean {
    return this.endedFlag
  }

  /** Appends a frame and returns its number. Waiting followers are woken once per synchronous batch. */
  append(event: string, data: string, at: number = Date.now()): number {
    const seq = this.last + 1
    this.entries.push({ seq, at, frame: { id: String(seq), event, data } })
    if (this.entries.length > this.capacity) {
      // Dropping in blocks keeps the cost amortised (a shift per event would copy the array every time).
      const drop = Math.max(1, Math.floor(this.capacity / 10))
      this.entries.splice(0, drop)
      this.first += drop
    }
    this.endedFlag = false
    this.schedule()
    return seq
  }

  /** Marks the log ended (it reopens if another event comes, e.g. a resume). */
  end(): void {
    this.endedFlag = true
    this.schedule()
  }

  /**
   * The entries after `cursor` (from the first when it is 0), at most `max` of them and, past the first, at
   * most `maxChars` characters of data; and the numbers that are no longer kept. Bounded, so what a slow
   * client has been handed but not yet sent stays small.
   */
  after(
    cursor: number,
    max: number = batchSize,
    maxChars: number = batchChars
  ): { readonly entries: ReadonlyArray<Entry>; readonly missing: readonly [number, number] | undefined } {
    const from = Math.max(cursor + 1, this.first)
    const missing = cursor + 1 < this.first ? ([cursor + 1, this.first - 1] as const) : undefined
    if (from > this.last) return { entries: [], missing }
    const start = from - this.first
    const limit = Math.min(this.entries.length, start + max)
    let end = start + 1
    let chars = this.entries[start]!.frame.data.length
    while (end < limit && (chars += this.entries[end]!.frame.data.length) <= maxChars) end++
    return { entries: this.entries.slice(start, end), missing }
  }

  /** Waits until an event after `cursor` is there, or the log ends. */
  wait(cursor: number): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      if (this.last > cursor || this.endedFlag) return resume(Effect.void)
      const waiter = () => resume(Effect.void)
      this.waiters.push(waiter)
      // A follower that goes away (the client disconnected) takes its waiter with it.
      return Effect.sync(() => {
        const index = this.waiters.indexOf(waiter)
        if (index >= 0) this.waiters.splice(index, 1)
      })
    })
  }

  /** How many followers are waiting for the next event. */
  get waiting(): number {
    return this.waiters.length
  }

  private schedule(): void {
    if (this.wakeScheduled || this.waiters.length === 0) return
    this.wakeScheduled = true
    queueMicrotask(this.wake)
  }

  private readonly wake = (): void => {
    this.wakeScheduled = false
    const waiters = this.waiters
    this.waiters = []
    for (const waiter of waiters) waiter()
  }
}

/** The frame that tells a follower which event numbers it can no longer get. */
export const gapFrame = (from: number, to: number): Frame => ({ event: "gap", data: JSON.stringify({ from, to }) })

/**
 * The log's frames after `cursor`, as they come; the stream ends once the log has ended and everything was
 * read. Pulled: nothing is read for a client faster than its connection takes it.
 */
export const follow = (log: RunLog, cursor: number): Stream.Stream<Frame> =>
  Stream.paginate(cursor, (at: number) =>
    Effect.suspend((): Effect.Effect<readonly [ReadonlyArray<Frame>, Option.Option<number>]> => {
      const { entries, missing } = log.after(at)
      if (entries.length > 0 || missing !== undefined) {
        const frames = entries.map((entry) => entry.frame)
        const next = entries.length > 0 ? entries[entries.length - 1]!.seq : missing![1]
        return Effect.succeed([missing === undefined ? frames : [gapFrame(missing[0], missing[1]), ...frames], Option.some(next)])
      }
      if (log.ended) return Effect.succeed([[], Option.none()])
      return Effect.as(log.wait(at), [[], Option.some(at)])
    })
  )
