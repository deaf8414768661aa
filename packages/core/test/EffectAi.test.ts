/** effect/ai interop: an effect/ai LanguageModel running agentloop agents, our models under effect/ai, toolkits both ways. */
import { Agent, AgentBackend, type AgentEvent, Approval, LanguageModel, Message, RunStore, Tool, Toolkit } from "@agentloop/core"
import * as EffectAi from "@agentloop/core/EffectAi"
import { ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Redacted, Schema, Stream } from "effect"
import { AiError, LanguageModel as AiLanguageModel, Prompt, type Response, Tool as AiTool, Toolkit as AiToolkit } from "effect/ai"

// -----------------------------------------------------------------------------
// An effect/ai LanguageModel fake, built with effect/ai's own constructor
// -----------------------------------------------------------------------------

type Turn = ReadonlyArray<Response.StreamPartEncoded> | AiError.AiError

/** A step's streamed parts as the whole answer `generateText` returns (text deltas joined). */
const wholeParts = (parts: ReadonlyArray<Response.StreamPartEncoded>): Array<Response.PartEncoded> => {
  const out: Array<Response.PartEncoded> = []
  let text = ""
  const flush = () => {
    if (text.length > 0) out.push({ type: "text", text })
    text = ""
  }
  for (const part of parts) {
    if (part.type === "text-delta") text += part.delta
    else if (part.type === "text-start" || part.type === "text-end") continue
    else {
      flush()
      out.push(part as Response.PartEncoded)
    }
  }
  flush()
  return out
}

/** Plays scripted turns in order, one per request, and records the provider options of each request. */
const fakeEffectAiModel = (turns: ReadonlyArray<Turn>) => {
  const requests: Array<AiLanguageModel.ProviderOptions> = []
  const calls: Array<"streamText" | "generateText"> = []
  const next = (options: AiLanguageModel.ProviderOptions, method: "streamText" | "generateText"): Turn => {
    requests.push(options)
    calls.push(method)
    const turn = turns[requests.length - 1]
    if (turn === undefined) throw new Error(`unexpected request #${requests.length}`)
    return turn
  }
  const layer = Layer.effect(
    AiLanguageModel.LanguageModel,
    AiLanguageModel.make({
      streamText: (options) =>
        Stream.suspend(() => {
          const turn = next(options, "streamText")
          // One chunk per part, as a provider's stream arrives.
          return AiError.isAiError(turn) ? Stream.fail(turn) : Stream.fromIterable(turn).pipe(Stream.rechunk(1))
        }),
      generateText: (options) =>
        Effect.suspend(() => {
          const turn = next(options, "generateText")
          return AiError.isAiError(turn) ? Effect.fail(turn) : Effect.succeed(wholeParts(turn))
        })
    })
  )
  return { layer, requests, calls }
}

const usage = (input: number, output: number) => ({ inputTokens: { total: input }, outputTokens: { total: output } })
const textParts = (id: string, ...deltas: Array<string>): Array<Response.StreamPartEncoded> => [
  { type: "text-start", id },
  ...deltas.map((delta): Response.StreamPartEncoded => ({ type: "text-delta", id, delta })),
  { type: "text-end", id }
]
const call = (id: string, name: string, params: unknown): Response.StreamPartEncoded => ({ type: "tool-call", id, name, params })
const finish = (reason: Response.FinishReason, input: number, output: number): Response.StreamPartEncoded => ({
  type: "finish",
  reason,
  usage: usage(input, output)
})

// -----------------------------------------------------------------------------
// agentloop tools for the runs
// -----------------------------------------------------------------------------

const Echo = Tool.make("echo", { description: "Echo the text back.", parameters: { text: Schema.String }, success: Schema.String })
const Deploy = Tool.make("deploy", {
  description: "Deploy a release.",
  parameters: { version: Schema.String },
  success: Schema.String,
  requiresApproval: true
})
const tools = Toolkit.make(Echo, Deploy)

const makeHandlers = () => {
  const ran: Array<string> = []
  const layer = tools.toLayer({
    echo: ({ text }) => Effect.sync(() => (ran.push(`echo:${text}`), text)),
    deploy: ({ version }) => Effect.sync(() => (ran.push(`deploy:${version}`), `deployed ${version}`))
  })
  return { ran, layer }
}

/** An approvals layer that approves and records what it was asked. */
const recordingApprovals = () => {
  const asked: Array<string> = []
  const layer = Approval.layerPolicy((request) => (asked.push(`${request.toolName}:${JSON.stringify(request.arguments)}`), Approval.Verdict.approved({ by: "test" })))
  return { asked, layer }
}

const backendLayer = (agent: Agent.Agent<typeof tools.tools>, model: Layer.Layer<AiLanguageModel.LanguageModel>, handlers: Layer.Layer<any>, approvals: Layer.Layer<Approval.Approvals>) =>
  AgentBackend.layerLocal(agent).pipe(
    Layer.provide(Layer.mergeAll(EffectAi.layer().pipe(Layer.provide(model)), handlers, approvals, RunStore.layerMemory))
  )

describe("EffectAi.layer: an effect/ai LanguageModel runs an agentloop agent", () => {
  it.effect("streams text deltas into the run's events, runs tool calls with approvals, forwards tool choice, maps usage and finish reasons", () =>
    Effect.gen(function* () {
      const fake = fakeEffectAiModel([
        [...textParts("t1", "Let me ", "check."), call("c1", "echo", { text: "hi" }), finish("tool-calls", 10, 5)],
        [call("c2", "deploy", { version: "1.0" }), finish("tool-calls", 20, 5)],
        [...textParts("t3", "Deployed ", "1.0."), finish("stop", 30, 3)]
      ])
      const handlers = makeHandlers()
      const approvals = recordingApprovals()
      const agent = Agent.make({ name: "release", toolkit: tools, toolChoice: "required", instructions: "Release carefully." })
      const events = yield* Effect.flatMap(AgentBackend.AgentBackend, (backend) => Stream.runCollect(backend.stream({ input: "Ship 1.0" }))).pipe(
        Effect.provide(backendLayer(agent, fake.layer, handlers.layer, approvals.layer))
      )
      const of = <T extends AgentEvent.AgentEvent["_tag"]>(tag: T) => events.filter((e): e is Extract<AgentEvent.AgentEvent, { _tag: T }> => e._tag === tag)

      // streaming: the effect/ai stream's deltas are the run's TextDelta events
      expect(fake.calls).toEqual(["streamText", "streamText", "streamText"])
      expect(of("TextDelta").map((e) => e.delta)).toEqual(["Let me ", "check.", "Deployed ", "1.0."])
      // tool calls ran through the loop, the gated one after approval
      expect(handlers.ran).toEqual(["echo:hi", "deploy:1.0"])
      expect(approvals.asked).toEqual(['deploy:{"version":"1.0"}'])
      expect(of("ToolResult").map((e) => [e.toolName, e.content, e.isError])).toEqual([["echo", "hi", false], ["deploy", "deployed 1.0", false]])
      // finish reasons and usage mapped
      expect(of("StepFinished").map((e) => e.finishReason)).toEqual(["tool_calls", "tool_calls", "stop"])
      expect(of("UsageReported").map((e) => [e.usage.inputTokens, e.usage.outputTokens, e.usage.totalTokens])).toEqual([[10, 5, 15], [20, 5, 25], [30, 3, 33]])
      const outcome = of("RunFinished")[0]!.outcome
      expect(outcome).toMatchObject({ _tag: "Completed", text: "Deployed 1.0.", usage: { inputTokens: 60, outputTokens: 13, totalTokens: 73 } })

      // tool choice forwarded (`required`, then `auto` once honoured), tools as dynamic tools with their JSON Schemas
      expect(fake.requests.map((r) => r.toolChoice)).toEqual(["required", "auto", "auto"])
      const offered = fake.requests[0]!.tools
      expect(offered.map((t) => t.name)).toEqual(["echo", "deploy"])
      expect(AiTool.isDynamic(offered[0]!)).toBe(true)
      expect(AiTool.getJsonSchema(offered[0]!)).toEqual(Echo.definition.parameters)
      expect(AiTool.getDescription(offered[1]!)).toBe("Deploy a release.")

      // the conversation as an effect/ai prompt: system, user, the assistant's call and its result
      const prompt = fake.requests[1]!.prompt.content
      expect(prompt.map((m) => m.role)).toEqual(["system", "user", "assistant", "tool"])
      expect(prompt[0]).toMatchObject({ role: "system" })
      expect((prompt[0] as Prompt.SystemMessage).content).toContain("Release carefully.")
      expect(prompt[1]).toMatchObject({ role: "user", content: [{ type: "text", text: "Ship 1.0" }] })
      expect(prompt[2]).toMatchObject({
        role: "assistant",
        content: [{ type: "text", text: "Let me check." }, { type: "tool-call", id: "c1", name: "echo", params: { text: "hi" }, providerExecuted: false }]
      })
      expect(prompt[3]).toMatchObject({ role: "tool", content: [{ type: "tool-result", id: "c1", name: "echo", result: "hi", isFailure: false }] })
    })
  )

  it.effect("without an event consumer it streams each step too (streamText: one model interface), forwarding a named tool choice as { tool }", () =>
    Effect.gen(function* () {
      const fake = fakeEffectAiModel([
        [call("c1", "echo", { text: "one" }), finish("tool-calls", 1, 1)],
        [...textParts("t", "done"), finish("stop", 2, 1)]
      ])
      const handlers = makeHandlers()
      const agent = Agent.make({ name: "named", toolkit: tools, toolChoice: { function: "echo" } })
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (backend) => backend.run({ input: "go" })).pipe(
        Effect.provide(backendLayer(agent, fake.layer, handlers.layer, Approval.layerAutoApprove))
      )
      expect(fake.calls).toEqual(["streamText", "streamText"])
      expect(fake.requests[0]!.toolChoice).toEqual({ tool: "echo" })
      expect(handlers.ran).toEqual(["echo:one"])
      expect(outcome).toMatchObject({ _tag: "Completed", text: "done", usage: { inputTokens: 3, outputTokens: 2, totalTokens: 5 } })
    })
  )

  it.effect("an undeclared or malformed call reaches the loop, which answers it with an error result (effect/ai does not validate)", () =>
    Effect.gen(function* () {
      const fake = fakeEffectAiModel([
        [call("c1", "nope", {}), call("c2", "echo", { text: 5 }), finish("tool-calls", 1, 1)],
        [...textParts("t", "sorry"), finish("stop", 1, 1)]
      ])
      const handlers = makeHandlers()
      const events = yield* Effect.flatMap(AgentBackend.AgentBackend, (backend) => Stream.runCollect(backend.stream({ input: "go" }))).pipe(
        Effect.provide(backendLayer(Agent.make({ name: "lenient", toolkit: tools }), fake.layer, handlers.layer, Approval.layerAutoApprove))
      )
      const results = events.filter((e) => e._tag === "ToolResult")
      expect(results.map((e) => [e.toolName, e.isError, e.errorKind])).toEqual([["nope", true, "UnknownTool"], ["echo", true, "InvalidArguments"]])
      expect(handlers.ran).toEqual([])
    })
  )

  it.effect("declares the final-answer tool for typed output (outputMode auto) and decodes its arguments", () =>
    Effect.gen(function* () {
      const fake = fakeEffectAiModel([[call("f1", "final_answer", { severity: "high" }), finish("tool-calls", 1, 1)]])
      const agent = Agent.make({ name: "typed", toolkit: Toolkit.make(), output: Schema.Struct({ severity: Schema.String }), outputMode: "auto" })
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (backend) => backend.run({ input: "classify" })).pipe(
        Effect.provide(AgentBackend.layerLocal(agent).pipe(Layer.provide(Layer.mergeAll(EffectAi.layer().pipe(Layer.provide(fake.layer)), Approval.layerAutoApprove, RunStore.layerMemory))))
      )
      expect(fake.requests[0]!.tools.map((t) => t.name)).toEqual(["final_answer"])
      expect(fake.requests[0]!.responseFormat).toEqual({ type: "text" })
      expect(outcome).toMatchObject({ _tag: "Completed", output: { severity: "high" } })
    })
  )
})

describe("EffectAi errors", () => {
  const SECRET = "sk-live-0123456789abcdefSECRET"
  const streamError = (error: AiError.AiError) =>
    Effect.gen(function* () {
      const fake = fakeEffectAiModel([error])
      const model = yield* Effect.provide(LanguageModel.LanguageModel, EffectAi.layer().pipe(Layer.provide(fake.layer)))
      const request: LanguageModel.ModelRequest = { messages: [Message.user("hi")], tools: [], availableTools: [], toolChoice: "auto", parallelToolCalls: true }
      return yield* Effect.flip(Stream.runDrain(model.streamStep(request)))
    })

  it.effect("a rate limit with an HTTP response: retryable, status, and nothing of its headers or body", () =>
    Effect.gen(function* () {
      const error = yield* streamError(
        AiError.make({
          module: "OpenAiClient",
          method: "createResponse",
          reason: new AiError.RateLimitError({
            retryAfter: Duration.seconds(30),
            http: { response: { status: 429, headers: { authorization: Redacted.make(`Bearer ${SECRET}`), "x-request-id": "req_1" } }, body: `{"error":"slow down ${SECRET}"}` }
          })
        })
      )
      expect(error).toBeInstanceOf(LanguageModel.ModelError)
      expect(error).toMatchObject({ retryable: true, reason: "status", status: 429, provider: "effect-ai" })
      expect(error.message).toContain("rate limit exceeded")
      expect(error.cause).toEqual({ module: "OpenAiClient", method: "createResponse", reason: "RateLimitError", status: 429, retryAfterMillis: 30_000 })
      expect(JSON.stringify({ message: error.message, cause: error.cause })).not.toContain(SECRET)
    })
  )

  it.effect("a network error: transport, retryable, the URL's query scrubbed; an authentication error says only its kind", () =>
    Effect.gen(function* () {
      const network = yield* streamError(
        AiError.make({
          module: "GoogleClient",
          method: "generate",
          reason: new AiError.NetworkError({ reason: "TransportError", method: "POST", url: `https://api.example.com/v1/generate?key=${SECRET}`, description: "socket hang up" })
        })
      )
      expect(network).toMatchObject({ retryable: true, reason: "transport" })
      expect(network.message).toContain("https://api.example.com/v1/generate?<redacted>")
      expect(network.message).not.toContain(SECRET)
      const auth = yield* streamError(
        AiError.make({
          module: "OpenAiClient",
          method: "createResponse",
          reason: new AiError.AuthenticationError({ kind: "InvalidKey", description: `Incorrect API key provided: ${SECRET}`, http: { response: { status: 401, headers: {} } } })
        })
      )
      expect(auth).toMatchObject({ retryable: false, reason: "status", status: 401 })
      expect(auth.message).toContain("authentication failed (InvalidKey)")
      expect(auth.message).not.toContain(SECRET)
    })
  )

  it.effect("an error part in the stream fails the step with the parts received so far", () =>
    Effect.gen(function* () {
      const fake = fakeEffectAiModel([[...textParts("t", "partial"), { type: "error", error: { message: "overloaded" } }, finish("stop", 1, 1)]])
      const model = EffectAi.fromLanguageModel(yield* Effect.provide(AiLanguageModel.LanguageModel, fake.layer), { provider: "fake" })
      const request: LanguageModel.ModelRequest = { messages: [Message.user("hi")], tools: [], availableTools: [], toolChoice: "auto", parallelToolCalls: true }
      const error = yield* Effect.flip(Stream.runDrain(model.streamStep(request)))
      expect(error).toMatchObject({ provider: "fake", reason: "provider-error", retryable: false, received: [{ _tag: "TextDelta", delta: "partial" }] })
      expect(error.message).toContain("overloaded")
    })
  )

  it("ModelError -> AiError: a status picks effect/ai's class; otherwise retryable picks the reason", () => {
    const rateLimited = EffectAi.toAiError(new LanguageModel.ModelError({ message: "slow down", retryable: true, status: 429, reason: "status" }), "streamText")
    expect(rateLimited.reason._tag).toBe("RateLimitError")
    expect(rateLimited.isRetryable).toBe(true)
    const transport = EffectAi.toAiError(new LanguageModel.ModelError({ message: "reset", retryable: true, reason: "transport", provider: "heroku" }), "generateText")
    expect(transport.reason._tag).toBe("NetworkError")
    expect(transport.isRetryable).toBe(true)
    const final = EffectAi.toAiError(new LanguageModel.ModelError({ message: "bad", retryable: false, reason: "provider-error" }), "generateText")
    expect(final.reason._tag).toBe("UnknownError")
    expect(final.isRetryable).toBe(false)
    expect(final.message).toContain("bad")
  })
})

describe("EffectAi.layerEffectAi: an agentloop model under effect/ai", () => {
  const GetTime = AiTool.make("GetTime", {
    description: "The time in a zone.",
    parameters: Schema.Struct({ zone: Schema.String }),
    success: Schema.String
  })
  const Clock = AiToolkit.make(GetTime)
  const ClockHandlers = Clock.toLayer({ GetTime: ({ zone }) => Effect.succeed(`12:00 ${zone}`) })

  it.effect("generateText with a toolkit: our model's call is resolved by effect/ai's handler; usage and finish reason mapped", () =>
    Effect.gen(function* () {
      const scripted = ScriptedModel.make([
        ScriptedModel.toolCall("GetTime", { zone: "UTC" }, { id: "call_t", usage: { inputTokens: 12, outputTokens: 4 } }),
        ScriptedModel.text(["It is ", "noon."], { usage: { inputTokens: 20, outputTokens: 3 } })
      ])
      const layer = Layer.mergeAll(EffectAi.layerEffectAi({ provider: "scripted" }).pipe(Layer.provide(scripted.layer)), ClockHandlers)
      const { first, streamed } = yield* Effect.gen(function* () {
        const toolkit = yield* Clock
        const first = yield* AiLanguageModel.generateText({ prompt: "What time is it?", toolkit, toolChoice: { tool: "GetTime" } })
        const streamed = yield* Stream.runCollect(
          AiLanguageModel.streamText({ prompt: Prompt.concat(Prompt.make("What time is it?"), Prompt.fromResponseParts(first.content)), toolkit })
        )
        return { first, streamed }
      }).pipe(Effect.provide(layer))

      expect(first.toolCalls.map((c) => [c.id, c.name, c.params])).toEqual([["call_t", "GetTime", { zone: "UTC" }]])
      expect(first.toolResults.map((r) => [r.name, r.result, r.isFailure])).toEqual([["GetTime", "12:00 UTC", false]])
      expect(first.finishReason).toBe("tool-calls")
      expect(first.usage.inputTokens.total).toBe(12)
      expect(first.usage.outputTokens.total).toBe(4)

      const deltas = streamed.filter((p) => p.type === "text-delta").map((p) => (p as Response.TextDeltaPart).delta)
      expect(deltas).toEqual(["It is ", "noon."])
      expect(streamed.map((p) => p.type)).toEqual(["text-start", "text-delta", "text-delta", "text-end", "finish"])
      expect(streamed.find((p) => p.type === "finish")).toMatchObject({ reason: "stop", usage: { inputTokens: { total: 20 }, outputTokens: { total: 3 } } })

      // what our model was asked: the toolkit's tool with its JSON Schema, the forced choice, then the history with the result
      const [request1, request2] = scripted.requests
      expect(request1!.tools).toEqual(["GetTime"])
      expect(request1!.toolDefinitions[0]).toMatchObject({
        name: "GetTime",
        description: "The time in a zone.",
        parameters: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] }
      })
      expect(request1!.toolChoice).toEqual({ function: "GetTime" })
      expect(request1!.messages).toEqual([Message.user("What time is it?")])
      expect(request2!.toolChoice).toBe("auto")
      expect(request2!.messages).toEqual([
        Message.user("What time is it?"),
        Message.assistant("", [Message.toolCall({ id: "call_t", name: "GetTime", arguments: '{"zone":"UTC"}' })]),
        Message.toolResult({ toolCallId: "call_t", toolName: "GetTime", content: "12:00 UTC", isError: false })
      ])
    })
  )

  it.effect("generateObject: the schema reaches our model as responseFormat", () =>
    Effect.gen(function* () {
      const scripted = ScriptedModel.make([ScriptedModel.text('{"zone":"CET"}')])
      const response = yield* AiLanguageModel.generateObject({ prompt: "Pick a zone", objectName: "pick", schema: Schema.Struct({ zone: Schema.String }) }).pipe(
        Effect.provide(EffectAi.layerEffectAi().pipe(Layer.provide(scripted.layer)))
      )
      expect(response.value).toEqual({ zone: "CET" })
      expect(scripted.requests[0]!.responseFormat).toEqual({
        name: "pick",
        schema: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"], additionalProperties: false }
      })
    })
  )

  it.effect("a ModelError reaches effect/ai as an AiError", () =>
    Effect.gen(function* () {
      const scripted = ScriptedModel.make([ScriptedModel.error("upstream down", { retryable: true })])
      const error = yield* Effect.flip(AiLanguageModel.generateText({ prompt: "hi" }).pipe(Effect.provide(EffectAi.layerEffectAi().pipe(Layer.provide(scripted.layer)))))
      expect(error._tag).toBe("AiError")
      expect(error.reason._tag).toBe("InternalProviderError")
      expect(error.isRetryable).toBe(true)
    })
  )
})

describe("EffectAi toolkits", () => {
  const Lookup = AiTool.make("lookup", {
    description: "Look a user up.",
    parameters: Schema.Struct({ id: Schema.Int }),
    success: Schema.Struct({ name: Schema.String })
  }).annotate(AiTool.Readonly, true)
  const Wipe = AiTool.make("wipe", { description: "Wipe a table.", parameters: Schema.Struct({ table: Schema.String }), success: Schema.String }).annotate(
    AiTool.Destructive,
    true
  )
  const Touch = AiTool.make("touch", { description: "Touch a file.", success: Schema.String }).annotate(AiTool.Idempotent, true)
  const Plain = AiTool.make("plain", { description: "Plain.", success: Schema.String, failure: Schema.Struct({ code: Schema.String }) })
  const Ask = AiTool.make("ask", {
    description: "Needs approval above 10.",
    parameters: Schema.Struct({ amount: Schema.Number }),
    success: Schema.String,
    needsApproval: ({ amount }) => amount > 10
  })
  const Kit = AiToolkit.make(Lookup, Wipe, Touch, Plain, Ask)
  const ran: Array<string> = []
  const KitHandlers = Kit.toLayer({
    lookup: ({ id }) => Effect.sync(() => (ran.push(`lookup:${id}`), { name: `user ${id}` })),
    wipe: ({ table }) => Effect.sync(() => (ran.push(`wipe:${table}`), `wiped ${table}`)),
    touch: () => Effect.succeed("touched"),
    plain: () => Effect.fail({ code: "E_PLAIN" }),
    ask: ({ amount }) => Effect.succeed(`asked ${amount}`)
  })

  it("effect/ai annotations become hints, and the hints the approval and parallelism defaults", () => {
    const { toolkit } = EffectAi.fromToolkit(Kit)
    const t = toolkit.tools
    expect(t["lookup"]).toMatchObject({ hints: { readOnly: true }, requiresApproval: false, parallel: true })
    expect(t["wipe"]).toMatchObject({ hints: { destructive: true }, requiresApproval: true, parallel: false })
    expect(t["touch"]).toMatchObject({ hints: { idempotent: true }, requiresApproval: false, parallel: false })
    // no annotations: no hints (effect/ai's MCP defaults are not taken), the plain defaults
    expect(t["plain"]!.hints).toBeUndefined()
    expect(t["plain"]).toMatchObject({ requiresApproval: false, parallel: true })
    const ask = t["ask"]!.requiresApproval as (args: Record<string, unknown>) => boolean
    expect([ask({ amount: 5 }), ask({ amount: 50 })]).toEqual([false, true])
    expect(t["lookup"]!.definition).toEqual({
      name: "lookup",
      description: "Look a user up.",
      parameters: { type: "object", properties: { id: { type: "integer" } }, required: ["id"], additionalProperties: false }
    })
    // overrides win
    const overridden = EffectAi.fromToolkit(Kit, { tools: { wipe: { requiresApproval: false, parallel: true } } }).toolkit.tools["wipe"]
    expect(overridden).toMatchObject({ requiresApproval: false, parallel: true, hints: { destructive: true } })
  })

  it.effect("an effect/ai toolkit with its handlers runs an agentloop agent: the destructive tool waits for approval", () =>
    Effect.gen(function* () {
      ran.length = 0
      const { toolkit, layer } = EffectAi.fromToolkit(Kit)
      const scripted = ScriptedModel.make([
        ScriptedModel.toolCalls([
          { name: "lookup", args: { id: 7 }, id: "c1" },
          { name: "lookup", args: { id: "seven" }, id: "c2" },
          { name: "plain", args: {}, id: "c3" },
          { name: "wipe", args: { table: "users" }, id: "c4" }
        ])
      ])
      const agent = Agent.make({ name: "ops", toolkit })
      const events = yield* Effect.flatMap(AgentBackend.AgentBackend, (backend) => Stream.runCollect(backend.stream({ input: "clean up" }))).pipe(
        Effect.provide(
          AgentBackend.layerLocal(agent).pipe(
            Layer.provide(Layer.mergeAll(scripted.layerUnchecked, layer.pipe(Layer.provide(KitHandlers)), Approval.layerSuspend(), RunStore.layerMemory))
          )
        )
      )
      const results = events.filter((e) => e._tag === "ToolResult")
      expect(results.map((e) => [e.toolCallId, e.isError, e.errorKind ?? null])).toEqual([
        ["c1", false, null],
        ["c2", true, "InvalidArguments"],
        ["c3", true, "ToolFailed"]
      ])
      expect(results[0]!.content).toBe('{"name":"user 7"}')
      expect(results[1]!.content).toContain("Expected")
      expect(results[2]!.content).toBe('{"error":{"code":"E_PLAIN"}}')
      expect(ran).toEqual(["lookup:7"])
      const outcome = events.find((e) => e._tag === "RunFinished")!.outcome
      expect(outcome).toMatchObject({ _tag: "Suspended", pending: [{ toolName: "wipe", toolCallId: "c4" }] })
    })
  )

  const Read = Tool.make("read", { description: "Read a file.", parameters: { path: Schema.String }, success: Schema.String, hints: { readOnly: true } })
  const Drop = Tool.make("drop", {
    description: "Drop a table.",
    parameters: { table: Schema.String },
    success: Schema.String,
    hints: { destructive: true, idempotent: true }
  })
  const Slow = Tool.make("slow", { description: "Slow.", success: Schema.String, timeout: "10 millis" })
  const Ours = Toolkit.make(Read, Drop, Slow)
  const OursHandlers = Ours.toLayer({
    read: ({ path }, context) => Effect.succeed(`contents of ${path} (${context.idempotencyKey})`),
    drop: ({ table }) => Effect.succeed(`dropped ${table}`),
    slow: () => Effect.as(Effect.sleep("1 second"), "late")
  })

  it.live("an agentloop toolkit as an effect/ai Toolkit: hints as annotations, approval as needsApproval, agentloop's execution rules", () =>
    Effect.gen(function* () {
      expect(Drop.requiresApproval).toBe(true)
      const exported = EffectAi.toToolkit(Ours, { runId: "ai-run" })
      const read = exported.toolkit.tools["read"]!
      const drop = exported.toolkit.tools["drop"]!
      expect(Context.get(read.annotations, AiTool.Readonly)).toBe(true)
      expect(Context.getOrUndefined(read.annotations, AiTool.Destructive)).toBeUndefined()
      expect(Context.get(drop.annotations, AiTool.Destructive)).toBe(true)
      expect(Context.get(drop.annotations, AiTool.Idempotent)).toBe(true)
      expect(read.needsApproval).toBeUndefined()
      expect(drop.needsApproval).toBe(true)
      expect(AiTool.getJsonSchema(read)).toEqual(Read.definition.parameters)
      // and back: the same hints and policy
      const back = EffectAi.fromAiTool(drop)
      expect(back).toMatchObject({ hints: { destructive: true, idempotent: true }, requiresApproval: true, parallel: false })

      const results = yield* Effect.gen(function* () {
        const toolkit = yield* exported.toolkit
        const last = (name: string, params: unknown) =>
          Effect.flatMap(toolkit.handle(name, params as never, `call_${name}`), (stream) => Stream.runLast(stream))
        return {
          read: yield* last("read", { path: "a.txt" }),
          bad: yield* last("read", { path: 1 }),
          slow: yield* last("slow", {})
        }
      }).pipe(Effect.provide(exported.layer.pipe(Layer.provide(OursHandlers))))
      expect(results.read).toMatchObject({ _tag: "Some", value: { isFailure: false, encodedResult: "contents of a.txt (ai-run:call_read)" } })
      expect(results.bad).toMatchObject({ _tag: "Some", value: { isFailure: true, encodedResult: { error: "InvalidArguments" } } })
      expect(results.slow).toMatchObject({ _tag: "Some", value: { isFailure: true, encodedResult: { error: "Timeout" } } })
    })
  )

  it.effect("under effect/ai's generateText, a gated agentloop tool becomes an approval request instead of running", () =>
    Effect.gen(function* () {
      const exported = EffectAi.toToolkit(Ours)
      const scripted = ScriptedModel.make([
        ScriptedModel.toolCalls([
          { name: "read", args: { path: "b.txt" }, id: "r1" },
          { name: "drop", args: { table: "t" }, id: "d1" }
        ])
      ])
      const response = yield* Effect.gen(function* () {
        const toolkit = yield* exported.toolkit
        return yield* AiLanguageModel.generateText({ prompt: "tidy up", toolkit })
      }).pipe(Effect.provide(Layer.mergeAll(EffectAi.layerEffectAi().pipe(Layer.provide(scripted.layer)), exported.layer.pipe(Layer.provide(OursHandlers)))))
      expect(response.toolResults.map((r) => [r.name, r.result])).toEqual([["read", "contents of b.txt (effect-ai:r1)"]])
      expect(response.content.filter((p) => p.type === "tool-approval-request").map((p) => (p as Response.ToolApprovalRequestPart).toolCallId)).toEqual(["d1"])
    })
  )
})

describe("Tool hints", () => {
  it("set the approval and parallelism defaults; explicit options win; no hints, no change", () => {
    const destructive = Tool.make("d", { description: "d", hints: { destructive: true } })
    expect(destructive).toMatchObject({ requiresApproval: true, parallel: false, hints: { destructive: true } })
    expect(Tool.make("d2", { description: "d", hints: { destructive: true }, requiresApproval: false, parallel: true })).toMatchObject({ requiresApproval: false, parallel: true })
    expect(Tool.make("r", { description: "r", hints: { readOnly: true, openWorld: false } })).toMatchObject({ requiresApproval: false, parallel: true })
    const plain = Tool.make("p", { description: "p" })
    expect(plain).toMatchObject({ requiresApproval: false, parallel: true })
    expect("hints" in plain).toBe(false)
    expect(Tool.hintDefaults(undefined)).toEqual({ requiresApproval: false, parallel: true })
  })
})

describe("EffectAi prompts", () => {
  it("maps remote calls, their results and provider approvals, and back", () => {
    const remote = Message.toolCall({ id: "r1", name: "web_search", arguments: '{"q":"effect"}', remote: true })
    const messages: Array<Message.Message> = [
      Message.system("Be brief."),
      Message.user("find it"),
      Message.assistant("Searching.", [remote], { approvalRequests: [Message.toolCall({ id: "a1", name: "send", arguments: "{}", remote: true })] }),
      Message.toolResult({ toolCallId: "r1", toolName: "web_search", content: "found", isError: false }),
      { _tag: "ApprovalMessage", toolCallId: "a1", toolName: "send", approved: false, reason: "not now" }
    ]
    const prompt = EffectAi.toPrompt(messages)
    expect(prompt.content.map((m) => m.role)).toEqual(["system", "user", "assistant", "tool", "user"])
    expect(prompt.content[2]).toMatchObject({
      content: [
        { type: "text", text: "Searching." },
        { type: "text", text: "[asked for approval to run send (call a1) with {}]" },
        { type: "tool-call", id: "r1", name: "web_search", params: { q: "effect" }, providerExecuted: true }
      ]
    })
    expect(prompt.content[3]).toMatchObject({ content: [{ type: "tool-result", id: "r1", providerExecuted: true, result: "found" }] })
    expect(prompt.content[4]).toMatchObject({ content: [{ type: "text", text: "[denied: send (call a1): not now]" }] })

    const back = EffectAi.fromPrompt(prompt)
    expect(back.slice(0, 2)).toEqual(messages.slice(0, 2))
    expect(back[2]).toMatchObject({ _tag: "AssistantMessage", toolCalls: [remote] })
    expect(back[3]).toEqual(messages[3])
  })
})
