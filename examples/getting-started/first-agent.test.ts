// examples/getting-started/first-agent.test.ts: the agent of first-agent.ts, tested offline with fake layers.
import { Agent, Approval, Toolkit } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { agent, main, toolkit } from "./first-agent.js"

// Handlers that record their calls instead of deploying. `Toolkit.LayerOf` is the type of a handler layer.
const recording = () => {
  const deployed: Array<string> = []
  const layer: Toolkit.LayerOf<typeof toolkit> = toolkit.toLayer({
    deploy: ({ version }) => Effect.sync(() => (deployed.push(version), `deployed ${version}`))
  })
  return { deployed, layer }
}

describe("release-bot", () => {
  it.effect("suspends before deploying; approved, it deploys once and answers", () => {
    // One turn per model request. Tool call ids are call_<turn>_<index>, from 1: this call is call_1_1.
    const model = ScriptedModel.make([ScriptedModel.toolCall("deploy", { version: "4.2.0" }), ScriptedModel.text("4.2.0 is live.")])
    const { deployed, layer } = recording()
    return Effect.gen(function* () {
      const first = yield* Agent.run(agent, "Ship 4.2.0")
      if (first._tag !== "Suspended") return expect.unreachable(`expected Suspended, got ${first._tag}`)
      expect(first.pending).toMatchObject([{ toolName: "deploy", toolCallId: "call_1_1", arguments: { version: "4.2.0" } }])
      expect(deployed).toEqual([]) // nothing ran before the decision

      const done = yield* Agent.resume(agent, first.runId, [Approval.approve(first.pending[0]!, { by: "test" })])
      expect(done).toMatchObject({ _tag: "Completed", text: "4.2.0 is live.", steps: 2 })
      expect(deployed).toEqual(["4.2.0"])
      // What the model was sent: the tool's result, in its second request.
      expect(model.requests[1]!.messages.at(-1)).toMatchObject({ _tag: "ToolMessage", toolCallId: "call_1_1", content: "deployed 4.2.0" })
    }).pipe(Effect.provide([model.layer, layer]))
    // model.layer also fails the test if a scripted turn is left unused when the test ends.
  })

  it.effect("denied, it never deploys, and the model is told why", () => {
    const model = ScriptedModel.make([ScriptedModel.toolCall("deploy", { version: "9.9.9" }), ScriptedModel.text("Not deploying 9.9.9.")])
    const { deployed, layer } = recording()
    return Effect.gen(function* () {
      const first = yield* Agent.run(agent, "Ship 9.9.9")
      if (first._tag !== "Suspended") return expect.unreachable(`expected Suspended, got ${first._tag}`)
      const done = yield* Agent.resume(agent, first.runId, [Approval.deny(first.pending[0]!, "release freeze")])
      expect(done).toMatchObject({ _tag: "Completed", text: "Not deploying 9.9.9." })
      expect(deployed).toEqual([])
      const result = model.requests[1]!.messages.at(-1)
      expect(result).toMatchObject({ _tag: "ToolMessage", toolCallId: "call_1_1", isError: true })
      expect(result?._tag === "ToolMessage" && result.content).toContain("release freeze")
    }).pipe(Effect.provide([model.layer, layer]))
  })

  it.effect("first-agent.ts's own program: run, approve, resume", () => {
    const model = ScriptedModel.make([ScriptedModel.toolCall("deploy", { version: "4.2.0" }), ScriptedModel.text("4.2.0 is live.")])
    const { deployed, layer } = recording()
    return main.pipe(
      Effect.provide([model.layer, layer]),
      Effect.map((outcome) => {
        expect(outcome).toMatchObject({ _tag: "Completed", text: "4.2.0 is live." })
        expect(deployed).toEqual(["4.2.0"])
      })
    )
  })
})
