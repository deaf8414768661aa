// examples/getting-started/first-agent.ts: an agent with one tool, which needs a human's approval.
import { Agent, AgentEvent, Approval, Tool, Toolkit } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { Effect, Schema } from "effect"

// A tool: a name, what it does, typed parameters and result. Each call waits for approval.
export const Deploy = Tool.make("deploy", {
  description: "Deploy a version to production.",
  parameters: { version: Schema.String },
  success: Schema.String,
  requiresApproval: true
})
export const toolkit = Toolkit.make(Deploy)
export const agent = Agent.make({ name: "release-bot", instructions: "You ship releases.", toolkit })
// What the tool does, as a layer of handlers (a test swaps in one that records its calls).
export const handlers = toolkit.toLayer({ deploy: ({ version }) => Effect.succeed(`deployed ${version}`) })

const onEvent = (event: AgentEvent.AgentEvent) => console.log(AgentEvent.format(event))

// Run, approve what waits for approval, resume. The model and handlers come from the context.
export const main = Effect.gen(function* () {
  const outcome = yield* Agent.run(agent, "Ship 4.2.0", { onEvent })
  if (outcome._tag !== "Suspended") return outcome
  const decisions = outcome.pending.map((pending) => Approval.approve(pending, { by: "you" }))
  return yield* Agent.resume(agent, outcome.runId, decisions, { onEvent })
})

// A scripted model plays the model's part: call deploy, then answer (the last step uses a real one).
const model = ScriptedModel.make([
  ScriptedModel.toolCall("deploy", { version: "4.2.0" }),
  ScriptedModel.text("4.2.0 is live.")
])

// Runs when started directly (`npx tsx first-agent.ts`), not when the next steps import it.
if (import.meta.url === `file://${process.argv[1]}`) {
  const outcome = await main.pipe(Effect.provide([model.layer, handlers]), Effect.runPromise)
  if (outcome._tag === "Completed") console.log(`answer: ${outcome.text}`)
}
