/**
 * The agent of the durable throughput bench (`durable.ts`, and the cluster runners of `durable-runner.ts`):
 * a model that calls the `step` tool in each of its first three steps and answers in the fourth, so a run
 * is 4 model activities and 3 tool-call activities. The model reads the turn from the last message (O(1)),
 * so the bench measures the engine, not the fake.
 */
import { Agent, LanguageModel, Message, Tool, Toolkit } from "@agentloop/core"
import { Effect, Layer, Schema, Stream } from "effect"

export const Step = Tool.make("step", { description: "One step of work.", parameters: { n: Schema.Number }, success: Schema.String })
export const toolkit = Toolkit.make(Step)
export const agent = Agent.make({ name: "bench-durable", toolkit })

/** Tool steps per run. */
export const STEPS = 3

const usage = new Message.Usage({ inputTokens: 1, outputTokens: 1, totalTokens: 2 })

export const model = Layer.effect(
  LanguageModel.LanguageModel,
  Effect.sync(() => {
    const generateStep = (request: LanguageModel.ModelRequest) =>
      Effect.sync(() => {
        const last = request.messages[request.messages.length - 1]
        // The last tool result names its step (`call-<n>`); the first request ends with the user's message.
        const turn = last?._tag === "ToolMessage" ? Number(last.toolCallId.slice("call-".length)) + 1 : 1
        return turn <= STEPS
          ? [LanguageModel.toolCall({ id: `call-${turn}`, name: "step", arguments: `{"n":${turn}}` }), LanguageModel.finish("tool_calls", usage)]
          : [LanguageModel.textDelta("done"), LanguageModel.finish("stop", usage)]
      })
    return { generateStep, streamStep: (request: LanguageModel.ModelRequest) => Stream.unwrap(Effect.map(generateStep(request), Stream.fromIterable)) }
  })
)

/** The tool's handler: `onRun` sees each execution's idempotency key (how the bench counts executions). */
export const handlers = (onRun: (key: string) => void) => toolkit.toLayer({ step: ({ n }, ctx) => Effect.sync(() => (onRun(ctx.idempotencyKey), `step ${n} done`)) })
