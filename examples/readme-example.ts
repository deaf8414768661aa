/** The README's example, kept compiling and running (tested by test/readme-example.test.ts). */
import { Agent, AgentBackend, Approval, RunStore, Tool, Toolkit, ToolRule } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { Effect, Layer, Schema } from "effect"

const Deploy = Tool.make("deploy", {
  description: "Deploy a version to production.",
  parameters: { version: Schema.String },
  success: Schema.String,
  requiresApproval: true
})
const Notify = Tool.make("notify", { description: "Tell the team.", parameters: { message: Schema.String } })
const toolkit = Toolkit.make(Deploy, Notify)
const agent = Agent.make({ name: "release-bot", toolkit, rules: [ToolRule.terminal("notify")] })

export const program = Effect.gen(function* () {
  const backend = yield* AgentBackend.AgentBackend
  const outcome = yield* backend.run({ input: "Ship 4.2.0" }) // or backend.stream(...) for events
  if (outcome._tag === "Suspended") {
    return yield* backend.resume(outcome.runId, outcome.pending.map((p) => Approval.approve(p, { by: "me" })))
  }
  return outcome
})

export const makeLayer = () => {
  const model = ScriptedModel.make([
    ScriptedModel.toolCall("deploy", { version: "4.2.0" }),
    ScriptedModel.toolCall("notify", { message: "4.2.0 is live" })
  ])
  return AgentBackend.layerLocal(agent).pipe(
    Layer.provide(
      Layer.mergeAll(
        model.layer,
        Approval.layerSuspend(),
        RunStore.layerMemory,
        toolkit.toLayer({ deploy: ({ version }) => Effect.succeed(`deployed ${version}`), notify: () => Effect.void })
      )
    )
  )
}

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(program.pipe(Effect.provide(makeLayer()))).then((outcome) => console.log(outcome))
}
