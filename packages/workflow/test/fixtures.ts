/** A small durable agent: the model calls `deploy` (which needs approval), then answers. */
import { Agent, LanguageModel, Message, Tool, Toolkit } from "@agentloop/core"
import { Effect, Layer, Schema, Stream } from "effect"

export const Deploy = Tool.make("deploy", {
  description: "Deploy a version.",
  parameters: { version: Schema.String },
  success: Schema.String,
  requiresApproval: true
})
export const toolkit = Toolkit.make(Deploy)
export const agent = Agent.make({ name: "durable-deployer", toolkit })

const usage = new Message.Usage({ inputTokens: 1, outputTokens: 1, totalTokens: 2 })

/**
 * A stateless model (the turn is read from the conversation, so any process can play any turn) that
 * reports every real call to `onCall`: replays of stored steps do not call it.
 */
export const model = (onCall: (turn: number) => void) => {
  const generateStep = (request: LanguageModel.ModelRequest) =>
    Effect.sync(() => {
      const turn = request.messages.filter((m) => m._tag === "AssistantMessage").length + 1
      onCall(turn)
      if (turn === 1) return [LanguageModel.toolCall({ id: "call-deploy", name: "deploy", arguments: '{"version":"7.2"}' }), LanguageModel.finish("tool_calls", usage)]
      const result = [...request.messages].reverse().find((m) => m._tag === "ToolMessage")
      return [LanguageModel.textDelta(`Done: ${result?._tag === "ToolMessage" ? result.content : "?"}`), LanguageModel.finish("stop", usage)]
    })
  return Layer.succeed(LanguageModel.LanguageModel, {
    generateStep,
    streamStep: (request) => Stream.unwrap(Effect.map(generateStep(request), Stream.fromIterable))
  })
}

export const handlers = (onRun: (key: string, version: string) => Effect.Effect<void>) =>
  toolkit.toLayer({ deploy: ({ version }, ctx) => Effect.as(onRun(ctx.idempotencyKey, version), `deployed ${version}`) })

/**
 * A provider that numbers its calls per response, so `call_0` comes back on every step: step 1 asks to
 * deploy 7.1, step 2 to deploy 7.2 (both gated by approval), step 3 answers with every result it saw.
 */
export const repeatingIdsModel = (onCall: (turn: number) => void) => {
  const generateStep = (request: LanguageModel.ModelRequest) =>
    Effect.sync(() => {
      const turn = request.messages.filter((m) => m._tag === "AssistantMessage").length + 1
      onCall(turn)
      if (turn <= 2) return [LanguageModel.toolCall({ id: "call_0", name: "deploy", arguments: `{"version":"7.${turn}"}` }), LanguageModel.finish("tool_calls", usage)]
      const results = request.messages.flatMap((m) => (m._tag === "ToolMessage" ? [m.content] : []))
      return [LanguageModel.textDelta(`Done: ${results.join(", ")}`), LanguageModel.finish("stop", usage)]
    })
  return Layer.succeed(LanguageModel.LanguageModel, {
    generateStep,
    streamStep: (request) => Stream.unwrap(Effect.map(generateStep(request), Stream.fromIterable))
  })
}

/** The agent that talks to `repeatingIdsModel` (its own workflow name, so its runs never mix with `agent`'s). */
export const repeatingAgent = Agent.make({ name: "durable-repeater", toolkit })
