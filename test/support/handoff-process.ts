/**
 * One side of the cross-process handoff test, run with tsx as its own process.
 *   tsx handoff-process.ts start  <storeDir> <runId>             -> the outcome (suspended on billing's refund, after the handoff)
 *   tsx handoff-process.ts resume <storeDir> <runId> <decisions>  -> the outcome, the tools that ran, the agents that spoke
 * Each process appends the tools it runs to <storeDir>/ran.log, so duplicates across processes show.
 */
import { AgentBackend, Approval, type AgentEvent, RunStore } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import { NodeContext } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import { appendFileSync } from "node:fs"
import { join } from "node:path"
import { backend, script } from "../../examples/handoff-triage.js"

const [mode, storeDir, runId, decisionsJson] = process.argv.slice(2)
if ((mode !== "start" && mode !== "resume") || storeDir === undefined || runId === undefined) {
  console.error("usage: handoff-process.ts start|resume <storeDir> <runId> [decisions]")
  process.exit(2)
}

// Each process scripts only the turns it will see.
const model = S.make(mode === "start" ? script.untilApproval : script.afterApproval)
const ran: Array<string> = []
const layer = backend({ ran, model: model.layer, store: RunStore.layerFileSystem(storeDir).pipe(Layer.provide(NodeContext.layer)) })

const program = Effect.gen(function* () {
  const b = yield* AgentBackend.AgentBackend
  const speakers: Array<string> = []
  const onEvent = (event: AgentEvent.AgentEvent) => {
    if (event._tag === "RunStarted" || event._tag === "StepStarted") speakers.push(`${event._tag}:${event.agent}`)
  }
  const outcome =
    mode === "start"
      ? yield* b.run({ input: "I want my $30 back for order 42", runId }, { onEvent })
      : yield* b.resume(runId, Schema.decodeUnknownSync(Schema.parseJson(Schema.Array(Approval.ApprovalDecision)))(decisionsJson), { onEvent })
  for (const tool of ran) appendFileSync(join(storeDir, "ran.log"), `${process.pid} ${tool}\n`)
  return { outcome, ran, speakers }
})

Effect.runPromise(Effect.provide(program, layer)).then(
  (result) => process.stdout.write(JSON.stringify(result)),
  (error) => {
    console.error(String(error))
    process.exit(1)
  }
)
