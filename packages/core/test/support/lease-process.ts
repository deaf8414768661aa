/**
 * One owner of the cross-process lease race (`AdversarialLease.test.ts`), run with tsx as its own process on a
 * shared file-system store. For each round i it waits for the other process (barrier files), then:
 *
 *   node --import tsx lease-process.ts <dir> first <rounds> <leaseMs> <durationsMs,...> <logFile>
 *     resumes `lease-<i>` with the decisions in `<dir>/decisions-lease-<i>.json` and runs its slow calls;
 *   node --import tsx lease-process.ts <dir> second <rounds> <leaseMs> <durationsMs,...> <logFile>
 *     once the first has claimed `lease-<i>`, tries to resume it as soon as every lease it sees has expired,
 *     until the run is completed.
 *
 * Every call appends `<runId> <toolCallId> <role> <problems as JSON>` to `<logFile>` as it starts; each
 * process prints how each of its attempts ended, per round, as JSON.
 */
import { type AgentBackend, Approval, RunStore } from "@agentloop/core"
import { NodeServices } from "@effect/platform-node"
import { Context, Duration, Effect, Layer, Option, Schema } from "effect"
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { makeLeaseWorld } from "./leases.js"

const [dir, role, rounds, leaseMs, durations, logFile] = process.argv.slice(2)
if (dir === undefined || (role !== "first" && role !== "second") || logFile === undefined) {
  console.error("usage: lease-process.ts <dir> first|second <rounds> <leaseMs> <durations> <logFile>")
  process.exit(2)
}
const other = role === "first" ? "second" : "first"

const barrier = (round: number) =>
  Effect.gen(function* () {
    writeFileSync(join(dir, `ready-${round}-${role}`), "")
    while (!existsSync(join(dir, `ready-${round}-${other}`))) yield* Effect.sleep(Duration.millis(1))
  })

const decisionsOf = (runId: string) =>
  Schema.decodeUnknownSync(Schema.fromJsonString(Schema.Array(Approval.ApprovalDecision)))(readFileSync(join(dir, `decisions-${runId}.json`), "utf8"))

/** Waits until the run is no longer suspended: the first process has claimed it (or finished it). */
const claimed = (backend: AgentBackend.AgentBackend["Service"], runId: string) =>
  Effect.gen(function* () {
    while (Option.getOrThrow(yield* Effect.orDie(backend.getRun(runId))).status === "suspended") yield* Effect.sleep(Duration.millis(2))
  })

const world = makeLeaseWorld({
  durations: durations!.split(",").map(Number),
  sequential: true,
  onExecution: (e) => appendFileSync(logFile, `${e.runId} ${e.toolCallId} ${role} ${JSON.stringify(e.problems)}\n`)
})

const program = Effect.scoped(
  Effect.gen(function* () {
    const context = yield* Layer.build(RunStore.layerFileSystem(dir).pipe(Layer.provide(NodeServices.layer)))
    const store = Context.get(context, RunStore.RunStore)
    const backend = yield* world.owner(store, role, Number(leaseMs))
    const results: Array<{ runId: string; ends: ReadonlyArray<string> }> = []
    for (let round = 0; round < Number(rounds); round++) {
      const runId = `lease-${round}`
      yield* barrier(round)
      const ends =
        role === "first"
          ? yield* world.persist(backend, runId, decisionsOf(runId), 1)
          : yield* Effect.andThen(claimed(backend, runId), world.persist(backend, runId, [], 100))
      results.push({ runId, ends })
    }
    return results
  })
)

Effect.runPromise(program).then(
  (results) => process.stdout.write(JSON.stringify(results)),
  (error) => {
    console.error(String(error))
    process.exit(1)
  }
)
