/**
 * One side of the cross-process sub-agent test, run with tsx as its own process.
 *   tsx sub-agent-process.ts start  <storeDir> <runId>             -> the parent's outcome (suspended on the sub-agent's approval)
 *   tsx sub-agent-process.ts resume <storeDir> <runId> <decisions>  -> the outcome and the tools that ran
 * Each process appends the tools it runs to <storeDir>/ran.log, so duplicates across processes show.
 */
import { AgentBackend, Approval, RunStore } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import { NodeContext } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import { appendFileSync } from "node:fs"
import { join } from "node:path"
import { backend } from "../../examples/research-agent.js"

const [mode, storeDir, runId, decisionsJson] = process.argv.slice(2)
if ((mode !== "start" && mode !== "resume") || storeDir === undefined || runId === undefined) {
  console.error("usage: sub-agent-process.ts start|resume <storeDir> <runId> [decisions]")
  process.exit(2)
}

// Parent and sub-agent share the model; each process scripts only the turns it will see.
const model = S.make(
  mode === "start"
    ? [S.toolCall("release", { input: "Deploy 4.2" }, { id: "call_release" }), S.toolCall("deploy", { version: "4.2" }, { id: "call_deploy" })]
    : [S.text("Deployed 4.2."), S.text("4.2 is live.")]
)
const ran: Array<string> = []
const layer = backend({
  ran,
  model: model.layer,
  store: RunStore.layerFileSystem(storeDir).pipe(Layer.provide(NodeContext.layer))
})

const program = Effect.gen(function* () {
  const b = yield* AgentBackend.AgentBackend
  const outcome =
    mode === "start"
      ? yield* b.run({ input: "Ship 4.2", runId })
      : yield* b.resume(runId, Schema.decodeUnknownSync(Schema.parseJson(Schema.Array(Approval.ApprovalDecision)))(decisionsJson))
  for (const tool of ran) appendFileSync(join(storeDir, "ran.log"), `${process.pid} ${tool}\n`)
  return { outcome, ran }
})

Effect.runPromise(Effect.provide(program, layer)).then(
  (result) => process.stdout.write(JSON.stringify(result)),
  (error) => {
    console.error(String(error))
    process.exit(1)
  }
)
