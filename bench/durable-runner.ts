/**
 * A cluster runner of the durable throughput bench (spawned by `durable.ts`): runs the bench agent on a
 * Postgres cluster, appends each tool execution's idempotency key to a log (so the bench can count them
 * across processes), prints READY and runs until it is killed.
 *
 *   durable-runner.ts <postgres url> <port> <log file>
 *
 * FAILOVER=<duration> sets the runner's `failoverAfter` (default: the library's).
 */
import { appendFileSync } from "node:fs"
import { Durable } from "@agentloop/workflow"
import { type Duration, Effect, Layer, Redacted, References } from "effect"
import { agent, handlers, model } from "./durable-agent.js"

const [url, port, log] = process.argv.slice(2) as [string, string, string]
const layer = Durable.layer(agent).pipe(
  Layer.provide(Layer.merge(model, handlers((key) => appendFileSync(log, `${key}\n`)))),
  Layer.provideMerge(
    Durable.layerPostgresCluster({
      url: Redacted.make(url),
      runnerAddress: { host: "127.0.0.1", port: Number(port) },
      ...(process.env["FAILOVER"] === undefined ? {} : { failoverAfter: process.env["FAILOVER"] as Duration.Input })
    })
  )
)
Effect.runPromise(
  Effect.scoped(Effect.andThen(Layer.build(layer), Effect.andThen(Effect.sync(() => process.stdout.write("READY\n")), Effect.never))).pipe(
    Effect.provideService(References.MinimumLogLevel, "Warn")
  )
).catch((error) => {
  console.error(String(error))
  process.exit(1)
})
