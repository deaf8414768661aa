/**
 * One racer of the cross-process adversarial tests, run with tsx as its own process, on a shared
 * file-system run store. Every tool execution is appended to `<logFile>` (one line each), so executions by
 * any process are counted exactly.
 *
 *   node --import tsx race-process.ts race <dir> <label> <other> <rounds> <logFile>
 *     for each round i: waits until the other racer is ready too (barrier files), then resumes run `race-<i>`
 *     with the decisions in `<dir>/decisions-race-<i>.json`; prints one result per round as JSON.
 *   node --import tsx race-process.ts hang <dir> <runId> <logFile> <leaseMs>
 *     resumes `<runId>` with `<dir>/decisions-<runId>.json` and hangs inside the approved call (to be killed).
 */
import { AgentBackend, RunStore } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { Duration, Effect, Layer } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
// The race loop and the decisions format are the ones the root tests' child scripts use.
import { decisionsOf as decodeDecisions, raceResumes } from "../../../../test/support/racer.js"
import { makeWorld } from "./adversarial.js"

const [mode, dir, ...rest] = process.argv.slice(2)
if ((mode !== "race" && mode !== "hang") || dir === undefined) {
  console.error("usage: race-process.ts race|hang <dir> ...")
  process.exit(2)
}

const decisionsOf = (runId: string) => decodeDecisions(readFileSync(join(dir, `decisions-${runId}.json`), "utf8"))

const store = RunStore.layerFileSystem(dir).pipe(Layer.provide(NodeServices.layer))

const race = (label: string, other: string, rounds: number, logFile: string) => {
  const world = makeWorld({ logFile, label })
  const { layer } = world.backend(
    Array.from({ length: rounds }, (_, i) => ScriptedModel.text(`deployed ${i}`)),
    { store }
  )
  return Effect.flatMap(AgentBackend.AgentBackend, (backend) => raceResumes(backend, dir!, label, other, rounds)).pipe(Effect.provide(layer))
}

const hang = (runId: string, logFile: string, leaseMs: number) => {
  // Stay alive while held (a pending Deferred alone does not keep Node running), until killed.
  setInterval(() => {}, 60_000)
  const world = makeWorld({ logFile, label: `pid-${process.pid}` })
  world.holdAt("deploy:1")
  const { layer } = world.backend([ScriptedModel.text("never reached")], { store, lease: Duration.millis(leaseMs) })
  return Effect.flatMap(AgentBackend.AgentBackend, (backend) => backend.resume(runId, decisionsOf(runId))).pipe(Effect.provide(layer))
}

const program: Effect.Effect<unknown, unknown> =
  mode === "race" ? race(rest[0]!, rest[1]!, Number(rest[2]), rest[3]!) : hang(rest[0]!, rest[1]!, Number(rest[2]))

Effect.runPromise(program).then(
  (result) => {
    process.stdout.write(JSON.stringify(result))
  },
  (error) => {
    console.error(String(error))
    process.exit(1)
  }
)
