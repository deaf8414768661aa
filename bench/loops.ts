/**
 * The same agent in each library: a fake model that calls an `echo` tool `steps` times and then answers,
 * and an `echo` tool. Each library gets the idiomatic fake for its own model interface. The fakes are
 * stateless, so one setup serves many runs, concurrent ones too, as in an application that builds its
 * agent once: the step is read from the conversation's last message (the result of call `c<step>`), which
 * costs the same at any history length, so W1 measures the loops rather than the fakes.
 */
import { Agent as AlAgent, AgentBackend, Approval, LanguageModel, Message, RunStore, Tool as AlTool, Toolkit } from "@agentloop/core"
import { Agent as OaAgent, Runner, tool as oaTool, Usage, type Model as OaModel, type ModelRequest as OaModelRequest, type ModelResponse as OaModelResponse } from "@openai/agents-core"
import { generateText, stepCountIs, tool as aiTool } from "ai"
import { MockLanguageModelV3 } from "ai/test"
import { Effect, Layer, ManagedRuntime, Schema, Stream } from "effect"
import { z } from "zod"

export interface Contender {
  /** Runs the agent once, with `steps` tool calls before the answer. */
  readonly run: () => Promise<void>
  /** How many times the echo tool ran, in total (the bench checks it). */
  readonly toolRuns: () => number
  readonly dispose: () => Promise<void>
}

export type Setup = (steps: number, latencyMs: number) => Contender

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const ARGS = '{"text":"hello"}'
/** The step after the call whose result ends the conversation (`c<step>`), or 0 when there is none yet. */
const stepAfter = (toolCallId: string | undefined): number => (toolCallId === undefined ? 0 : Number(toolCallId.slice(1)) + 1)

/** The floor: a hand-written loop over plain objects. */
const bare: Setup = (steps, latencyMs) => {
  let ran = 0
  const echo = async ({ text }: { text: string }) => (ran++, text)
  const model = async (messages: ReadonlyArray<{ role: string; toolCallId?: string }>) => {
    if (latencyMs > 0) await sleep(latencyMs)
    const step = stepAfter(messages[messages.length - 1]!.toolCallId)
    return step < steps ? { toolCall: { id: `c${step}`, name: "echo", arguments: ARGS } } : { text: "done" }
  }
  return {
    run: async () => {
      const messages: Array<{ role: string; content: string; toolCallId?: string }> = [{ role: "user", content: "go" }]
      while (true) {
        const reply = await model(messages)
        if (reply.toolCall === undefined) return
        messages.push({ role: "assistant", content: "" })
        messages.push({ role: "tool", content: await echo(JSON.parse(reply.toolCall.arguments)), toolCallId: reply.toolCall.id })
      }
    },
    toolRuns: () => ran,
    dispose: async () => {}
  }
}

const usage = new Message.Usage({ inputTokens: 1, outputTokens: 1, totalTokens: 2 })
const Echo = AlTool.make("echo", { description: "Echo the text.", parameters: { text: Schema.String }, success: Schema.String })
const echoToolkit = Toolkit.make(Echo)

/**
 * A minimal agentloop `LanguageModel` that calls `echo` `steps` times, then answers. Like the peers' fakes
 * (doGenerate, getResponse), a non-streaming model: it answers whole steps.
 */
export const echoModel = (steps: number, latencyMs: number): LanguageModel.Service => {
  const answer: ReadonlyArray<LanguageModel.ResponsePart> = [LanguageModel.textDelta("done"), LanguageModel.finish("stop", usage)]
  const generateStep = (request: LanguageModel.ModelRequest) => {
    const last = request.messages[request.messages.length - 1]!
    const step = stepAfter(last._tag === "ToolMessage" ? last.toolCallId : undefined)
    const parts = step < steps ? [LanguageModel.toolCall({ id: `c${step}`, name: "echo", arguments: ARGS }), LanguageModel.finish("tool_calls", usage)] : answer
    return latencyMs > 0 ? Effect.as(Effect.sleep(latencyMs), parts) : Effect.succeed(parts)
  }
  return { streamStep: (request) => Stream.unwrap(Effect.map(generateStep(request), Stream.fromIterable)), generateStep }
}

/** agentloop: the local backend, built once, over a minimal LanguageModel. */
const agentloop: Setup = (steps, latencyMs) => {
  let ran = 0
  const model = echoModel(steps, latencyMs)
  const runtime = ManagedRuntime.make(
    AgentBackend.layerLocal(AlAgent.make({ name: "bench", toolkit: echoToolkit, maxSteps: steps + 1 })).pipe(
      Layer.provide(
        Layer.mergeAll(
          Layer.succeed(LanguageModel.LanguageModel, model),
          echoToolkit.toLayer({ echo: ({ text }) => Effect.sync(() => (ran++, text)) }),
          Approval.layerAutoApprove,
          RunStore.layerMemory
        )
      )
    )
  )
  const run = Effect.flatMap(AgentBackend.AgentBackend, (backend) => backend.run({ input: "go" }))
  return { run: () => runtime.runPromise(run).then(() => {}), toolRuns: () => ran, dispose: () => runtime.dispose() }
}

/** Vercel AI SDK 6: generateText over a mock model, stopWhen a step count. */
const vercel: Setup = (steps, latencyMs) => {
  let ran = 0
  const aiUsage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } }
  const model = new MockLanguageModelV3({
    doGenerate: async (options) => {
      if (latencyMs > 0) await sleep(latencyMs)
      const last = options.prompt[options.prompt.length - 1]!
      const step = stepAfter(last.role === "tool" && last.content[0]?.type === "tool-result" ? last.content[0].toolCallId : undefined)
      return step < steps
        ? { content: [{ type: "tool-call" as const, toolCallId: `c${step}`, toolName: "echo", input: ARGS }], finishReason: { unified: "tool-calls" as const, raw: "tool_calls" }, usage: aiUsage, warnings: [] }
        : { content: [{ type: "text" as const, text: "done" }], finishReason: { unified: "stop" as const, raw: "stop" }, usage: aiUsage, warnings: [] }
    }
  })
  const tools = { echo: aiTool({ description: "Echo the text.", inputSchema: z.object({ text: z.string() }), execute: async ({ text }) => (ran++, text) }) }
  return {
    run: () => generateText({ model, tools, stopWhen: stepCountIs(steps + 1), prompt: "go" }).then(() => {}),
    toolRuns: () => ran,
    dispose: async () => {}
  }
}

/** OpenAI Agents SDK (agents-core 0.14): one Runner whose model provider returns a scripted Model. */
const openaiAgents: Setup = (steps, latencyMs) => {
  let ran = 0
  const model: OaModel = {
    async getResponse(request: OaModelRequest): Promise<OaModelResponse> {
      if (latencyMs > 0) await sleep(latencyMs)
      const last = typeof request.input === "string" ? undefined : (request.input[request.input.length - 1] as { type?: string; callId?: string } | undefined)
      const step = stepAfter(last?.type === "function_call_result" ? last.callId : undefined)
      const output: OaModelResponse["output"] =
        step < steps
          ? [{ type: "function_call", callId: `c${step}`, name: "echo", arguments: ARGS, status: "completed" }]
          : [{ type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "done" }] }]
      return { usage: new Usage({ requests: 1, inputTokens: 1, outputTokens: 1, totalTokens: 2 }), output, responseId: `r${step}` }
    },
    getStreamedResponse(): AsyncIterable<never> {
      throw new Error("not used by the benchmark")
    }
  }
  const agent = new OaAgent({
    name: "bench",
    instructions: "Echo.",
    tools: [oaTool({ name: "echo", description: "Echo the text.", parameters: z.object({ text: z.string() }), execute: async ({ text }) => (ran++, text) })]
  })
  const runner = new Runner({ modelProvider: { getModel: () => model }, tracingDisabled: true })
  return { run: () => runner.run(agent, "go", { maxTurns: steps + 2 }).then(() => {}), toolRuns: () => ran, dispose: async () => {} }
}

export const contenders: ReadonlyArray<readonly [string, Setup]> = [
  ["bare async loop (floor)", bare],
  ["agentloop local backend", agentloop],
  ["Vercel AI SDK 6 (generateText)", vercel],
  ["OpenAI Agents SDK (agents-core 0.14)", openaiAgents]
]
