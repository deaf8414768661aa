// examples/getting-started/resume.ts: process 2 reads the run from ./runs, approves it and resumes it to its end.
import { Agent, AgentEvent, Approval, RunStore } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, Option } from "effect"
import { agent, handlers } from "./first-agent.js"

const runId = process.argv[2]
if (runId === undefined) throw new Error("usage: npx tsx resume.ts <runId>")

const store = RunStore.layerFileSystem("runs").pipe(Layer.provide(NodeServices.layer))
// This process sees the model's next turn: the answer after the tool's result.
const model = ScriptedModel.make([ScriptedModel.text("4.2.0 is live.")])

const program = Effect.gen(function* () {
  // What waits for a decision, as a reviewer's screen would list it.
  const state = Option.getOrThrow(yield* Effect.flatMap(RunStore.RunStore, (runs) => runs.load(runId)))
  for (const pending of state.pending) console.log(`pending: ${pending.toolName}(${JSON.stringify(pending.arguments)})`)
  const decisions = state.pending.map((pending) => Approval.approve(pending, { by: "ops" }))
  // No approvals layer here either: the default (suspend) is what process 1 had. The decisions settle the
  // pending call; a gated call of a later step would suspend the run again.
  return yield* Agent.resume(agent, runId, decisions, { onEvent: (event) => console.log(AgentEvent.format(event)) })
})

const outcome = await program.pipe(Effect.provide([model.layer, handlers, store]), Effect.runPromise)
if (outcome._tag === "Completed") console.log(`answer: ${outcome.text}`)
