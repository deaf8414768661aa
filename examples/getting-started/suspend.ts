// examples/getting-started/suspend.ts: process 1 runs the agent until deploy waits for approval, then exits.
import { Agent, AgentEvent, RunStore } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { agent, handlers } from "./first-agent.js"

// Runs are kept as JSON files in ./runs, where another process finds them.
const store = RunStore.layerFileSystem("runs").pipe(Layer.provide(NodeServices.layer))
// This process sees one model turn: the call of deploy.
const model = ScriptedModel.make([ScriptedModel.toolCall("deploy", { version: "4.2.0" })])

const outcome = await Agent.run(agent, "Ship 4.2.0", { onEvent: (event) => console.log(AgentEvent.format(event)) }).pipe(
  Effect.provide([model.layer, handlers, store]),
  Effect.runPromise
)
if (outcome._tag === "Suspended") console.log(`waiting for approval: npx tsx resume.ts ${outcome.runId}`)
