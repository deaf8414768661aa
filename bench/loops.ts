/**
 * The same agent in each library: a fake model that calls an `echo` tool `steps` times and then answers,
 * and an `echo` tool. Each library gets the idiomatic fake for its own model interface. The fakes are
 * stateless, so one setup serves many runs, concurrent ones too, as in an application that builds its
 * agent once: the step is read from the conversation's last message (the result of call `c<step>`), which
 * costs the same at any history length, so W1 measures the loops rather than the fakes.
 */
import { Agent as AlAgent, AgentBackend, Approval, LanguageModel, Message, RunEvents, RunStore, Tool as AlTool, Toolkit } from "@agentloop/core"
import { Agent as OaAgent, Runner, tool as oaTool, Usage, type Model as OaModel, type ModelRequest as OaModelRequest, type ModelResponse as OaModelResponse } from "@openai/agents-core"
import { generateText, type LanguageModel as AiLanguageModel, stepCountIs, streamText, tool as aiTool } from "ai"
import { MockLanguageModelV3 } from "ai/test"
import { type Context, Effect, Layer, ManagedRuntime, Schema, Stream } from "effect"
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

/** The local backend over `model`, built once, with a counting `echo` handler. */
const agentloopRuntime = (model: LanguageModel.Service, steps: number) => {
  let ran = 0
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
  return { runtime, toolRuns: () => ran, dispose: () => runtime.dispose() }
}

/**
 * Which of `LanguageModel.Service`'s interfaces a fake offers beside `streamStep` (a `Stream` of parts, the
 * one interface every model has): `pushStep` (parts pushed to a callback), or nothing else (`stream`: a
 * stream-only model, like every HTTP adapter agentloop ships).
 */
export type ModelKind = "push" | "stream"

/**
 * A minimal agentloop `LanguageModel` that calls `echo` `steps` times, then answers, offering `kind`'s
 * interface beside `streamStep`. A step's parts are built when the loop asks for the step (the call of
 * `streamStep` or `pushStep`), the same for every kind.
 */
export const makeModel = (kind: ModelKind, steps: number, latencyMs: number): LanguageModel.Service => {
  const answer: ReadonlyArray<LanguageModel.ResponsePart> = [LanguageModel.textDelta("done"), LanguageModel.finish("stop", usage)]
  const partsOf = (request: LanguageModel.ModelRequest): ReadonlyArray<LanguageModel.ResponsePart> => {
    const last = request.messages[request.messages.length - 1]!
    const step = stepAfter(last._tag === "ToolMessage" ? last.toolCallId : undefined)
    return step < steps ? [LanguageModel.toolCall({ id: `c${step}`, name: "echo", arguments: ARGS }), LanguageModel.finish("tool_calls", usage)] : answer
  }
  const streamStep = (request: LanguageModel.ModelRequest): Stream.Stream<LanguageModel.ResponsePart> =>
    latencyMs > 0 ? Stream.unwrap(Effect.as(Effect.sleep(latencyMs), Stream.fromArray(partsOf(request)))) : Stream.fromArray(partsOf(request))
  switch (kind) {
    case "push":
      return {
        streamStep,
        pushStep: (request, emit) => (latencyMs > 0 ? Effect.map(Effect.sleep(latencyMs), () => emit(partsOf(request))) : Effect.sync(() => emit(partsOf(request))))
      }
    case "stream":
      return { streamStep }
  }
}

/**
 * A minimal agentloop `LanguageModel` that calls `echo` `steps` times, then answers. Like the peers' fakes
 * (doGenerate, getResponse), a non-streaming model: it answers whole steps (one `pushStep` batch).
 */
export const echoModel = (steps: number, latencyMs: number): LanguageModel.Service => makeModel("push", steps, latencyMs)

/** agentloop: the local backend, built once, over a minimal LanguageModel offering `kind`'s interface. */
const agentloopWith =
  (kind: ModelKind): Setup =>
  (steps, latencyMs) => {
    const { runtime, toolRuns, dispose } = agentloopRuntime(makeModel(kind, steps, latencyMs), steps)
    const run = Effect.flatMap(AgentBackend.AgentBackend, (backend) => backend.run({ input: "go" }))
    return { run: () => runtime.runPromise(run).then(() => {}), toolRuns, dispose }
  }
const agentloop = agentloopWith("push")

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

// Streaming contenders ------------------------------------------------------------------------------------
// Each library streams the same agent: its fake model streams each step's parts (a tool call, or the text
// "done" as one delta), and the run's events are consumed to the end, the way a UI would.

/**
 * agentloop: a run's events consumed to the end, over a model that streams: by pushing each step's parts
 * (`pushStep`, the streaming interface for models that are not Effect streams, like the peers' fakes), or
 * as an Effect `Stream` only (`streamStep`, as the HTTP adapters do).
 */
const agentloopStreamWith =
  (modelKind: ModelKind, consume: (runtime: ManagedRuntime.ManagedRuntime<AgentBackend.AgentBackend, unknown>) => Promise<void>): Setup =>
  (steps, latencyMs) => {
    const { runtime, toolRuns, dispose } = agentloopRuntime(makeModel(modelKind, steps, latencyMs), steps)
    return { run: () => consume(runtime), toolRuns, dispose }
  }

const drainStream = (runtime: ManagedRuntime.ManagedRuntime<AgentBackend.AgentBackend, unknown>) =>
  runtime.runPromise(Effect.flatMap(AgentBackend.AgentBackend, (backend) => Stream.runDrain(backend.stream({ input: "go" }))))

/** Every event through `Stream.runDrain`. */
const agentloopStream = agentloopStreamWith("push", drainStream)
const agentloopStreamOfStreams = agentloopStreamWith("stream", drainStream)

/** Every event through `for await` (`RunEvents.toAsyncIterable`), as code outside Effect would. */
const agentloopIterateWith =
  (kind: ModelKind): Setup =>
  (steps, latencyMs) => {
    // The services and the backend are looked up once, as an app does at startup (a lookup per run would
    // add a fiber per run to the contender: `runPromise` of the service).
    let ready: { context: Context.Context<AgentBackend.AgentBackend>; backend: AgentBackend.Service } | undefined
    return agentloopStreamWith(kind, async (runtime) => {
      ready ??= { context: await runtime.context(), backend: await runtime.runPromise(AgentBackend.AgentBackend) }
      const { context, backend } = ready
      for await (const _event of RunEvents.toAsyncIterable(context, (sink) => backend.run({ input: "go" }, sink))) {
        // consumed, as a UI would
      }
    })(steps, latencyMs)
  }
const agentloopIterate = agentloopIterateWith("push")

/** Every event to a plain callback (`backend.run(input, { onEvent })`): the loop's observed path alone. */
const callbacks = (runtime: ManagedRuntime.ManagedRuntime<AgentBackend.AgentBackend, unknown>) =>
  runtime.runPromise(
    Effect.flatMap(AgentBackend.AgentBackend, (backend) => {
      let seen = 0
      return backend.run({ input: "go" }, { onEvent: () => void seen++ })
    })
  ).then(() => {})
const agentloopCallbacks = agentloopStreamWith("push", callbacks)

/**
 * Not a way to stream (nothing reaches the consumer before the run ends): a floor for the Effect `Stream`
 * machinery alone. The run's events are collected by callbacks, then run through `Stream.runDrain` as one
 * chunk, so the row shows what running any `Stream` of a run's events costs on top of the run.
 */
const agentloopStreamFloor = agentloopStreamWith("push", (runtime) =>
  runtime.runPromise(
    Effect.flatMap(AgentBackend.AgentBackend, (backend) => {
      const events: Array<unknown> = []
      return Effect.flatMap(backend.run({ input: "go" }, { onEvent: (event) => events.push(event) }), () => Stream.runDrain(Stream.fromIterable(events)))
    })
  )
)

/** Vercel AI SDK 6: streamText over a streaming model (a plain `LanguageModelV3` that records nothing). */
const vercelStream: Setup = (steps, latencyMs) => {
  let ran = 0
  const aiUsage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } }
  type Part = { readonly type: string; readonly [key: string]: unknown }
  const model = {
    specificationVersion: "v3",
    provider: "bench",
    modelId: "bench",
    supportedUrls: {},
    doGenerate: () => Promise.reject(new Error("not used by the benchmark")),
    doStream: async (options: { prompt: ReadonlyArray<{ role: string; content: unknown }> }) => {
      if (latencyMs > 0) await sleep(latencyMs)
      const last = options.prompt[options.prompt.length - 1]!
      const first = Array.isArray(last.content) ? (last.content[0] as { type?: string; toolCallId?: string } | undefined) : undefined
      const step = stepAfter(last.role === "tool" && first?.type === "tool-result" ? first.toolCallId : undefined)
      const parts: Array<Part> =
        step < steps
          ? [
              { type: "stream-start", warnings: [] },
              { type: "tool-call", toolCallId: `c${step}`, toolName: "echo", input: ARGS },
              { type: "finish", finishReason: { unified: "tool-calls", raw: "tool_calls" }, usage: aiUsage }
            ]
          : [
              { type: "stream-start", warnings: [] },
              { type: "text-start", id: "t" },
              { type: "text-delta", id: "t", delta: "done" },
              { type: "text-end", id: "t" },
              { type: "finish", finishReason: { unified: "stop", raw: "stop" }, usage: aiUsage }
            ]
      return {
        stream: new ReadableStream<Part>({
          start(controller) {
            for (const part of parts) controller.enqueue(part)
            controller.close()
          }
        })
      }
    }
  } as unknown as Exclude<AiLanguageModel, string>
  const tools = { echo: aiTool({ description: "Echo the text.", inputSchema: z.object({ text: z.string() }), execute: async ({ text }) => (ran++, text) }) }
  return {
    run: async () => {
      const result = streamText({ model, tools, stopWhen: stepCountIs(steps + 1), prompt: "go" })
      for await (const _part of result.fullStream) {
        // consumed, as a UI would
      }
    },
    toolRuns: () => ran,
    dispose: async () => {}
  }
}

/** OpenAI Agents SDK: `run` with `stream: true` over a Model whose `getStreamedResponse` streams each step. */
const openaiAgentsStream: Setup = (steps, latencyMs) => {
  let ran = 0
  const model: OaModel = {
    getResponse(): Promise<OaModelResponse> {
      return Promise.reject(new Error("not used by the benchmark"))
    },
    async *getStreamedResponse(request: OaModelRequest): AsyncGenerator<any> {
      if (latencyMs > 0) await sleep(latencyMs)
      const last = typeof request.input === "string" ? undefined : (request.input[request.input.length - 1] as { type?: string; callId?: string } | undefined)
      const step = stepAfter(last?.type === "function_call_result" ? last.callId : undefined)
      yield { type: "response_started" as const }
      if (step >= steps) yield { type: "output_text_delta" as const, delta: "done" }
      const output: OaModelResponse["output"] =
        step < steps
          ? [{ type: "function_call", callId: `c${step}`, name: "echo", arguments: ARGS, status: "completed" }]
          : [{ type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "done" }] }]
      yield { type: "response_done" as const, response: { id: `r${step}`, usage: { requests: 1, inputTokens: 1, outputTokens: 1, totalTokens: 2 }, output } }
    }
  }
  const agent = new OaAgent({
    name: "bench",
    instructions: "Echo.",
    tools: [oaTool({ name: "echo", description: "Echo the text.", parameters: z.object({ text: z.string() }), execute: async ({ text }) => (ran++, text) })]
  })
  const runner = new Runner({ modelProvider: { getModel: () => model }, tracingDisabled: true })
  return {
    run: async () => {
      const result = await runner.run(agent, "go", { maxTurns: steps + 2, stream: true })
      for await (const _event of result) {
        // consumed, as a UI would
      }
      await result.completed
    },
    toolRuns: () => ran,
    dispose: async () => {}
  }
}

export const streamContenders: ReadonlyArray<readonly [string, Setup]> = [
  ["agentloop backend.stream (Stream.runDrain)", agentloopStream],
  ["agentloop RunEvents.toAsyncIterable (for await)", agentloopIterate],
  ["agentloop run + onEvent (callbacks)", agentloopCallbacks],
  ["agentloop backend.stream, model as Effect Stream", agentloopStreamOfStreams],
  ["agentloop run + onEvent, then Stream.runDrain of the events (Stream floor, not streaming)", agentloopStreamFloor],
  ["Vercel AI SDK 6 (streamText)", vercelStream],
  ["OpenAI Agents SDK (run, stream: true)", openaiAgentsStream]
]

/**
 * Issue 22, item 6 ("one model interface"): the same agent over a model that pushes its parts (`pushStep`,
 * the one optional fast path) and one that is only a `Stream` of parts (`streamStep`, like every adapter
 * agentloop ships), for `run` and for the streaming consumers.
 */
export const modelContenders: ReadonlyArray<readonly [string, Setup]> = [
  ["agentloop run, model with pushStep", agentloopWith("push")],
  ["agentloop run, model as Effect Stream only", agentloopWith("stream")],
  ["agentloop backend.stream, model with pushStep", agentloopStreamWith("push", drainStream)],
  ["agentloop backend.stream, model as Effect Stream only", agentloopStreamWith("stream", drainStream)],
  ["agentloop run + onEvent, model with pushStep", agentloopStreamWith("push", callbacks)],
  ["agentloop run + onEvent, model as Effect Stream only", agentloopStreamWith("stream", callbacks)],
  ["agentloop for await, model with pushStep", agentloopIterateWith("push")],
  ["agentloop for await, model as Effect Stream only", agentloopIterateWith("stream")]
]

export const contenders: ReadonlyArray<readonly [string, Setup]> = [
  ["bare async loop (floor)", bare],
  ["agentloop local backend", agentloop],
  ["Vercel AI SDK 6 (generateText)", vercel],
  ["OpenAI Agents SDK (agents-core 0.14)", openaiAgents]
]
