/**
 * Group commit for operations whose callers may share one database round trip or transaction: at most one
 * `flush` runs at a time; the calls made meanwhile wait for the next, which takes all their items at once.
 * Each call returns what its batch's `flush` returned (or fails with it), so a call's effect is in place when
 * it returns, as if it had run alone, and the next batch always starts after the call was made.
 */
import { Context, Deferred, Effect, Scope } from "effect"

interface Pending<A, R, E> {
  readonly items: Array<A>
  readonly done: Deferred.Deferred<R, E>
}

/**
 * The batches run in a fiber of the scope this is made in, with the services it is made with (not those of
 * the call that starts it, which may hold, say, a transaction's connection).
 */
export const make = <A, R, E>(flush: (items: ReadonlyArray<A>) => Effect.Effect<R, E>): Effect.Effect<(item: A) => Effect.Effect<R, E>, never, Scope.Scope> =>
  Effect.map(Effect.context<Scope.Scope>(), (context) => makeIn(flush, context))

const makeIn = <A, R, E>(flush: (items: ReadonlyArray<A>) => Effect.Effect<R, E>, context: Context.Context<Scope.Scope>): ((item: A) => Effect.Effect<R, E>) => {
  const scope = Context.get(context, Scope.Scope)
  let next: Pending<A, R, E> | undefined
  let running = false
  const loop: Effect.Effect<void> = Effect.suspend(() => {
    const batch = next
    if (batch === undefined) {
      running = false
      return Effect.void
    }
    next = undefined
    return flush(batch.items).pipe(
      Effect.exit,
      Effect.flatMap((exit) => Deferred.done(batch.done, exit)),
      // Let the fibers that can run queue their calls before the next batch is taken (a SQLite call blocks
      // the thread: without this, a batch would hold the one or two calls made during the previous one).
      Effect.andThen(Effect.yieldNow),
      Effect.andThen(loop)
    )
  })
  return (item) =>
    Effect.flatMap(
      // Uninterruptible: a caller interrupted between joining a batch and starting the loop must not leave
      // `running` set with no loop.
      Effect.uninterruptible(
        Effect.suspend(() => {
          const batch = (next ??= { items: [], done: Deferred.makeUnsafe() })
          batch.items.push(item)
          if (running) return Effect.succeed(batch)
          running = true
          return Effect.as(Effect.forkIn(Effect.provideContext(loop, context), scope, { startImmediately: true }), batch)
        })
      ),
      (batch) => Deferred.await(batch.done)
    )
}
