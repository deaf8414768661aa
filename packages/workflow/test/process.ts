/**
 * One process of the durable cross-process tests (run with tsx). Every model call and tool run is appended
 * to a log file, so the test can tell which process did what.
 *
 *   tsx process.ts <engine> <target> <runId> <log> start
 *   tsx process.ts <engine> <target> <runId> <log> decide <decision json>
 *   tsx process.ts <engine> <target> <runId> <log> crash <decision json>   (SIGKILLs itself inside the tool)
 *   tsx process.ts <engine> <target> <runId> <log> recover
 * engine: sqlite (target: a file), postgres or postgres-cluster (target: a connection URL).
 */
import { appendFileSync } from "node:fs"
import { Approval } from "@agentloop/core"
import { Durable } from "@agentloop/workflow"
import { Effect, Layer, Logger, LogLevel, Redacted, Schema } from "effect"
import { agent, handlers, model } from "./fixtures.js"

const [engine, target, runId, logFile, mode, decisionJson] = process.argv.slice(2) as [string, string, string, string, string, string | undefined]
const log = (line: string) => appendFileSync(logFile, `${process.pid} ${line}\n`)

const engineLayer =
  engine === "sqlite"
    ? Durable.layerSqlite({ filename: target, pollInterval: "200 millis" })
    : engine === "postgres"
      ? Durable.layerPostgres({ url: Redacted.make(target), pollInterval: "200 millis" })
      : Durable.layerPostgresCluster({ url: Redacted.make(target), pollInterval: "200 millis", runnerAddress: { host: "127.0.0.1", port: 34531 } })

const layer = Durable.layer(agent).pipe(
  Layer.provideMerge(engineLayer),
  Layer.provide(
    Layer.merge(
      model((turn) => log(`model ${turn}`)),
      handlers((key) =>
        Effect.sync(() => {
          log(`tool ${key}`)
          if (mode === "crash") process.kill(process.pid, "SIGKILL")
        })
      )
    )
  )
)

const decision = () => Schema.decodeUnknownSync(Schema.parseJson(Approval.ApprovalDecision))(decisionJson)

const program = Effect.gen(function* () {
  if (mode === "start") yield* Durable.start(agent, { runId, input: "ship 7.2" })
  if (mode === "decide" || mode === "crash") yield* Durable.decide(agent, runId, decision())
  return yield* Durable.awaitSettled(agent, runId, { timeout: "45 seconds" })
})

Effect.runPromise(Effect.scoped(Effect.provide(program, layer)).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))).then(
  (status) => {
    // On a line of its own: engines may log to stdout too.
    process.stdout.write(`\nRESULT ${JSON.stringify(status)}\n`)
    process.exit(0)
  },
  (error) => {
    console.error(String(error))
    process.exit(1)
  }
)
