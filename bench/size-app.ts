/**
 * The minimal agent app whose bundle `bench/size.ts` measures (browser / edge): an agent with one tool, a
 * scripted model that is only a `Stream` of parts (as every shipped adapter is), the local backend and the
 * in-memory run store; one run, its outcome logged. Bundled as it is against each tree's built packages
 * (its `@agentloop/core` dist and its `effect`), so it is written with calls Effect 3 and 4 spell alike.
 */
import { Agent, AgentBackend, Approval, LanguageModel, Message, RunStore, Tool, Toolkit } from "@agentloop/core"
import { Effect, Layer, Schema, Stream } from "effect"

const Echo = Tool.make("echo", { description: "Echo the text.", parameters: { text: Schema.String }, success: Schema.String })
const toolkit = Toolkit.make(Echo)
const usage = new Message.Usage({ inputTokens: 1, outputTokens: 1, totalTokens: 2 })

/** Calls `echo` once, then answers with the tool's result. */
const model: LanguageModel.Service = {
  streamStep: (request) => {
    const last = request.messages[request.messages.length - 1]
    return Stream.fromIterable(
      last !== undefined && last._tag === "ToolMessage"
        ? [LanguageModel.textDelta(last.content), LanguageModel.finish("stop", usage)]
        : [LanguageModel.toolCall({ id: "c0", name: "echo", arguments: '{"text":"hello"}' }), LanguageModel.finish("tool_calls", usage)]
    )
  }
}

const layer = AgentBackend.layerLocal(Agent.make({ name: "app", toolkit })).pipe(
  Layer.provide(
    Layer.mergeAll(
      Layer.succeed(LanguageModel.LanguageModel, model),
      toolkit.toLayer({ echo: ({ text }) => Effect.succeed(text) }),
      Approval.layerAutoApprove,
      RunStore.layerMemory
    )
  )
)

Effect.runPromise(Effect.provide(Effect.flatMap(AgentBackend.AgentBackend, (backend) => backend.run({ input: "go" })), layer)).then(
  (outcome) => console.log(outcome._tag),
  (error) => console.error(error)
)
