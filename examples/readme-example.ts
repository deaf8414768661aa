import { Agent, AgentEvent, Approval, LanguageModel, Tool, Toolkit } from "@agentloop/core"
import { Layer, Schema, Stream } from "effect"

const Deploy = Tool.make("deploy", {
  description: "Deploy a version to production.",
  parameters: { version: Schema.String },
  success: Schema.String,
  requiresApproval: true
})
const agent = Agent.make({ name: "release-bot", toolkit: Toolkit.make(Deploy) })

// A stand-in for a real model: it asks to deploy, then reports the tool's result.
// docs/getting-started.md points the agent at OpenAI, Anthropic, Heroku or a local server instead.
const model = Layer.succeed(LanguageModel.LanguageModel, {
  streamStep: ({ messages }) => {
    const result = messages.find((message) => message._tag === "ToolMessage")
    return result === undefined
      ? Stream.make(LanguageModel.toolCall({ id: "call_1", name: "deploy", arguments: '{"version":"4.2.0"}' }), LanguageModel.finish("tool_calls"))
      : Stream.make(LanguageModel.textDelta(`Done: ${result.content}.`), LanguageModel.finish("stop"))
  }
})

const options = {
  model,
  handlers: { deploy: async ({ version }: { version: string }) => `deployed ${version}` },
  onEvent: (event: AgentEvent.AgentEvent) => console.log(AgentEvent.format(event))
}
let outcome = await Agent.runPromise(agent, "Ship 4.2.0", options)
if (outcome._tag === "Suspended") {
  // deploy needs approval: the run is stored and waits. Approve, and resume it.
  const decisions = outcome.pending.map((pending) => Approval.approve(pending, { by: "me" }))
  outcome = await Agent.resumePromise(agent, outcome.runId, decisions, options)
}
if (outcome._tag === "Completed") console.log(`answer: ${outcome.text}`)
