/**
 * One side of the cross-process resume test, run with tsx as its own process.
 *   tsx approval-process.ts start  <storeDir> <runId>             -> prints the pending approvals as JSON
 *   tsx approval-process.ts resume <storeDir> <runId> <decisions>  -> prints the outcome and the tools that ran
 */
import { Agent, AgentBackend, Approval, RunStore, Tool, Toolkit } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"

const [mode, storeDir, runId, decisionsJson] = process.argv.slice(2)
if ((mode !== "start" && mode !== "resume") || storeDir === undefined || runId === undefined) {
  console.error("usage: approval-process.ts start|resume <storeDir> <runId> [decisions]")
  process.exit(2)
}

const Deploy = Tool.make("deploy", {
  description: "Deploy a version.",
  parameters: { version: Schema.String },
  success: Schema.String,
  requiresApproval: true
})
const toolkit = Toolkit.make(Deploy)
const agent = Agent.make({ name: "cross-process", toolkit })
const ran: Array<string> = []

// Each process scripts only the model turns it will see.
const model = ScriptedModel.make(
  mode === "start" ? [ScriptedModel.toolCall("deploy", { version: "7.1" })] : [ScriptedModel.text("deployed 7.1")]
)
const layer = AgentBackend.layerLocal(agent).pipe(
  Layer.provide(
    Layer.mergeAll(
      model.layer,
      toolkit.toLayer({ deploy: ({ version }) => Effect.sync(() => (ran.push(version), `deployed ${version}`)) }),
      Approval.layerSuspend(),
      RunStore.layerFileSystem(storeDir).pipe(Layer.provide(NodeServices.layer))
    )
  )
)

const program = Effect.gen(function* () {
  const backend = yield* AgentBackend.AgentBackend
  if (mode === "start") {
    const outcome = yield* backend.run({ input: "deploy 7.1", runId })
    return { outcome, ran }
  }
  const decisions = Schema.decodeUnknownSync(Schema.fromJsonString(Schema.Array(Approval.ApprovalDecision)))(decisionsJson)
  const outcome = yield* backend.resume(runId, decisions)
  return { outcome, ran }
})

Effect.runPromise(Effect.provide(program, layer)).then(
  (result) => {
    process.stdout.write(JSON.stringify(result))
  },
  (error) => {
    console.error(String(error))
    process.exit(1)
  }
)
