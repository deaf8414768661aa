/**
 * The runner storage of `layerPostgresCluster`: `effect/cluster`'s SQL runner storage (runners, heartbeats,
 * shard locks) on connections of its own, with its lock refreshes coalesced.
 *
 * Why: `effect/cluster` confirms a runner's shard lock before it stores each persisted reply, by refreshing
 * that one shard (the runner's heartbeat UPDATE, then a read of `pg_locks`), and every lock operation runs on
 * ONE reserved connection, one after the other, each with the refresh interval (a third of `failoverAfter`)
 * as its deadline. A runner busy with 1,000 concurrent runs queued up to one such check per shard (300)
 * there, ~7 ms each: 1-2 s measured for a check and for the periodic refresh of all shards queued behind
 * them. Past the deadline the reply is withheld or every lock is given up, and tool calls run twice.
 * Coalesced, the refreshes requested while one is running are answered by one refresh of all their shards,
 * which starts after each of them was requested: the same confirmation, and a queue of at most two.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Deferred, Effect, Layer, type Redacted, type Scope } from "effect"
import { type ClusterError, type RunnerAddress, RunnerStorage, type ShardId, SqlRunnerStorage } from "effect/cluster"

type Storage = RunnerStorage.RunnerStorage["Service"]

interface Batch {
  readonly address: RunnerAddress.RunnerAddress
  readonly shards: Map<string, ShardId.ShardId>
  readonly held: Deferred.Deferred<ReadonlySet<string>, ClusterError.PersistenceError>
}

/**
 * `refresh` coalesced: at most one refresh runs at a time; the ones requested meanwhile wait for the next,
 * which refreshes the union of their shards, and each gets the shards it asked about. An empty refresh
 * (`effect/cluster`'s liveness probe, run on the shared pool on purpose) and one for another address pass
 * through.
 */
export const coalesceRefresh = (storage: Storage, scope: Scope.Scope): Storage => {
  let next: Batch | undefined
  let running = false
  const run: Effect.Effect<void> = Effect.suspend(() => {
    const batch = next
    if (batch === undefined) {
      running = false
      return Effect.void
    }
    next = undefined
    return storage.refresh(batch.address, batch.shards.values()).pipe(
      Effect.map((held) => new Set(held.map(String)) as ReadonlySet<string>),
      Effect.exit,
      Effect.flatMap((exit) => Deferred.done(batch.held, exit)),
      Effect.andThen(run)
    )
  })
  return {
    ...storage,
    refresh: (address, shardIds) => {
      const shards = Array.from(shardIds)
      if (shards.length === 0) return storage.refresh(address, shards)
      // Uninterruptible: a caller interrupted (its deadline) between joining a batch and starting the loop
      // must not leave `running` set with no loop.
      const join = Effect.uninterruptible(
        Effect.suspend(() => {
          if (next !== undefined && String(next.address) !== String(address)) return Effect.succeed(undefined)
          const batch = (next ??= { address, shards: new Map(), held: Deferred.makeUnsafe() })
          for (const shard of shards) batch.shards.set(String(shard), shard)
          if (running) return Effect.succeed(batch)
          running = true
          return Effect.as(Effect.forkIn(run, scope, { startImmediately: true }), batch)
        })
      )
      return Effect.flatMap(join, (batch) =>
        batch === undefined
          ? storage.refresh(address, shards)
          : Effect.map(Deferred.await(batch.held), (held) => shards.filter((shard) => held.has(String(shard))))
      )
    }
  }
}

/**
 * `effect/cluster`'s SQL runner storage, `refresh` coalesced (see `coalesceRefresh`). A runner's is on a pool
 * of its own (2 connections: the reserved lock session, and one for registration and the liveness probe), so
 * its queries never wait for a connection behind the message storage's; a `clientOnly` process holds no
 * locks and uses the shared pool.
 */
export const layer = (options: { readonly url: Redacted.Redacted<string>; readonly clientOnly: boolean }) =>
  Layer.effect(RunnerStorage.RunnerStorage)(
    Effect.gen(function* () {
      const scope = yield* Effect.scope
      const storage = SqlRunnerStorage.layer.pipe(
        Layer.provide(options.clientOnly ? Layer.empty : PgClient.layer({ url: options.url, maxConnections: 2 }))
      )
      const context = yield* Layer.build(storage)
      return coalesceRefresh(Context.get(context, RunnerStorage.RunnerStorage), scope)
    })
  )
