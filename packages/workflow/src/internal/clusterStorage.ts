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
import { Context, Effect, Layer, type Redacted, type Scope } from "effect"
import { type RunnerAddress, RunnerStorage, type ShardId, SqlRunnerStorage } from "effect/cluster"
import * as Batch from "./batch.js"

type Storage = RunnerStorage.RunnerStorage["Service"]

interface Refresh {
  readonly address: RunnerAddress.RunnerAddress
  readonly shards: ReadonlyArray<ShardId.ShardId>
}

/**
 * `refresh` coalesced (`Batch`): at most one refresh runs at a time; the ones requested meanwhile wait for
 * the next, which refreshes the union of their shards (per runner address: `effect/cluster` asks only for
 * its own), and each gets the shards it asked about. An empty refresh (`effect/cluster`'s liveness probe,
 * run on the shared pool on purpose) passes through.
 */
export const coalesceRefresh = (storage: Storage): Effect.Effect<Storage, never, Scope.Scope> =>
  Effect.map(
    Batch.make((requests: ReadonlyArray<Refresh>) =>
      Effect.gen(function* () {
        const byAddress = new Map<string, { readonly address: RunnerAddress.RunnerAddress; readonly shards: Map<string, ShardId.ShardId> }>()
        for (const { address, shards } of requests) {
          const entry = byAddress.get(String(address)) ?? { address, shards: new Map() }
          byAddress.set(String(address), entry)
          for (const shard of shards) entry.shards.set(String(shard), shard)
        }
        const held = new Map<string, ReadonlySet<string>>()
        for (const [key, { address, shards }] of byAddress) {
          held.set(key, new Set((yield* storage.refresh(address, shards.values())).map(String)))
        }
        return held
      })
    ),
    (refresh): Storage => ({
      ...storage,
      refresh: (address, shardIds) => {
        const shards = Array.from(shardIds)
        if (shards.length === 0) return storage.refresh(address, shards)
        return Effect.map(refresh({ address, shards }), (held) => shards.filter((shard) => held.get(String(address))?.has(String(shard)) === true))
      }
    })
  )

/**
 * `effect/cluster`'s SQL runner storage, `refresh` coalesced (see `coalesceRefresh`). A runner's is on a pool
 * of its own (2 connections: the reserved lock session, and one for registration and the liveness probe), so
 * its queries never wait for a connection behind the message storage's; a `clientOnly` process holds no
 * locks and uses the shared pool.
 */
export const layer = (options: { readonly url: Redacted.Redacted<string>; readonly clientOnly: boolean }) =>
  Layer.effect(RunnerStorage.RunnerStorage)(
    Effect.gen(function* () {
      const storage = SqlRunnerStorage.layer.pipe(
        Layer.provide(options.clientOnly ? Layer.empty : PgClient.layer({ url: options.url, maxConnections: 2 }))
      )
      const context = yield* Layer.build(storage)
      return yield* coalesceRefresh(Context.get(context, RunnerStorage.RunnerStorage))
    })
  )
