/**
 * A fake of Heroku Managed Inference and Agents on loopback:
 *
 * - `POST /v1/chat/completions`: plays `ScriptedModel` turns as OpenAI-compatible answers, streamed as
 *   `chat.completion.chunk` SSE events (tool-call arguments split across chunks) or as one completion.
 * - `GET /available-models`: the public model catalog (`AVAILABLE_MODELS`), no key needed.
 * - `POST /v1/agents/heroku`: replays scripted agent transcripts in Heroku's format (`event:message` with
 *   `chat.completion` / `tool.completion` objects, then `event:done` / `data:[DONE]`, no space after colons).
 *
 * Both check `Authorization: Bearer <key>`, refuse undocumented or misplaced body fields with a 400 (a
 * `name` on a tool message, `stream_options` without `stream`; `allow_ignored_params` lifts the check on
 * top-level chat fields, as on Heroku), and answer errors with a JSON body. The usage chunk is sent only
 * when `stream_options.include_usage` asks for it. Any answer may be a fault or an HTTP error, and streams
 * can be written by a hostile server (`FakeHttp.Hostile`).
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { Context, Effect, type Layer, Redacted, type Scope } from "effect"
import * as FakeHttp from "./FakeHttp.js"
import * as ScriptedModel from "./ScriptedModel.js"

/** One answer of the agents endpoint: SSE frames (possibly written by a hostile server), a fault or an HTTP error. */
export type AgentResponse =
  | { readonly frames: ReadonlyArray<FakeHttp.SseFrame>; readonly dropAfter?: number; readonly hostile?: FakeHttp.Hostile }
  | FakeHttp.Fault
  | FakeHttp.ErrorAnswer

/** One answer of the chat endpoint (see `FakeHttp.TurnAnswer`). */
export type ChatAnswer = FakeHttp.TurnAnswer

/** `hostile` and `faults` (see `FakeHttp.Misbehaviour`) apply to every request. */
export interface Options extends FakeHttp.Misbehaviour {
  readonly key?: string
  readonly model?: string
  /** Answers for `/v1/chat/completions`, one per request. */
  readonly chat?: ReadonlyArray<ChatAnswer>
  /** Answers for `/v1/agents/heroku`, one per request. */
  readonly agents?: ReadonlyArray<AgentResponse>
  /** Answer 400 to `stream_options`, as some OpenAI-compatible servers do. */
  readonly rejectStreamOptions?: boolean
}

const chatFields = ["model", "messages", "stream", "stream_options", "response_format", "temperature", "max_tokens", "top_p", "stop", "tools", "tool_choice", "extended_thinking", "allow_ignored_params"]
const agentFields = ["model", "messages", "max_tokens_per_inference_request", "stop", "temperature", "tools", "top_p"]
const messageFields: Record<string, ReadonlyArray<string>> = {
  system: ["role", "content", "name"],
  user: ["role", "content", "name"],
  assistant: ["role", "content", "tool_calls", "name", "refusal"],
  tool: ["role", "tool_call_id", "content"]
}

/** The documented request fields, strictly (unknown or misplaced fields are refused, as the API does). */
const invalidFields = (body: any, endpoint: "chat" | "agents", rejectStreamOptions: boolean): string | undefined => {
  if (typeof body !== "object" || body === null) return "the body must be a JSON object"
  const bad = endpoint === "agents" || body.allow_ignored_params !== true ? FakeHttp.unknownFields(body, endpoint === "chat" ? chatFields : agentFields) : []
  if (typeof body.model !== "string") bad.push("body.model (required)")
  if (!Array.isArray(body.messages)) bad.push("body.messages (required)")
  ;(Array.isArray(body.messages) ? body.messages : []).forEach((m: any, i: number) => {
    const allowed = messageFields[String(m?.role)]
    if (allowed === undefined) bad.push(`body.messages.${i}.role`)
    else bad.push(...FakeHttp.unknownFields(m, allowed, `body.messages.${i}`))
  })
  if (endpoint === "chat" && body.stream_options !== undefined) {
    if (rejectStreamOptions) bad.push("body.stream_options (not supported)")
    else if (body.stream !== true) bad.push("body.stream_options (only allowed when stream is true)")
    else bad.push(...FakeHttp.unknownFields(body.stream_options, ["include_usage"], "body.stream_options"))
  }
  if (endpoint === "agents") {
    ;(Array.isArray(body.tools) ? body.tools : []).forEach((t: any, i: number) => {
      bad.push(...FakeHttp.unknownFields(t, ["type", "name", "description", "runtime_params"], `body.tools.${i}`))
      bad.push(...FakeHttp.unknownFields(t?.runtime_params, ["target_app_name", "dyno_size", "ttl_seconds", "max_calls", "tool_params"], `body.tools.${i}.runtime_params`))
    })
  }
  return bad.length === 0 ? undefined : `Invalid request: unknown or invalid parameter(s): ${bad.join(", ")}`
}

export interface FakeHerokuInference extends FakeHttp.Server {
  readonly key: string
  readonly model: string
  /**
   * The fake's URL, key (as a `Redacted`, as adapters take keys) and model: what `ChatModel.layer` /
   * `ChatModel.layerFetch` take (the shape of `HerokuInference.Connection`).
   */
  readonly connection: { readonly url: string; readonly key: Redacted.Redacted<string>; readonly model: string }
}

const completion = (id: string, model: string, message: Record<string, unknown>, finishReason: string, usage: unknown) => ({
  id,
  object: message["role"] === "tool" ? "tool.completion" : "chat.completion",
  created: 1748541138,
  ...(message["role"] === "tool" ? {} : { model }),
  system_fingerprint: "heroku-inf-fake",
  choices: [{ index: 0, message: { refusal: null, ...message }, finish_reason: finishReason }],
  usage
})

/**
 * A typical agent transcript: the model calls a server-side tool (its name as Heroku reports it, possibly
 * namespaced), Heroku runs it and reports the result, then the model answers.
 */
export const agentToolRun = (options: {
  readonly tool: string
  readonly args: unknown
  readonly result: string
  readonly intro?: string
  readonly answer: string
  readonly model?: string
  readonly mcp?: boolean
}): AgentResponse => {
  const id = `chatcmpl-${randomUUID().slice(0, 20)}`
  const model = options.model ?? "claude-4-sonnet"
  const callId = `tooluse_${randomUUID().slice(0, 12)}`
  const content =
    options.mcp === false
      ? `Tool '${options.tool}' returned result: ${options.result}`
      : `Tool '${options.tool}' returned result: ${JSON.stringify({ content: [{ type: "text", text: options.result }], isError: false })}`
  return {
    frames: [
      {
        event: "message",
        data: completion(
          id,
          model,
          {
            role: "assistant",
            content: options.intro ?? null,
            tool_calls: [{ id: callId, type: "function", function: { name: options.tool, arguments: JSON.stringify(options.args) } }]
          },
          "tool_calls",
          { prompt_tokens: 629, completion_tokens: 163, total_tokens: 792 }
        )
      },
      {
        event: "message",
        data: completion(id, model, { role: "tool", content, tool_call_id: callId, name: options.tool }, "", {})
      },
      {
        event: "message",
        data: completion(id, model, { role: "assistant", content: options.answer }, "stop", { prompt_tokens: 947, completion_tokens: 62, total_tokens: 1009 })
      },
      { event: "done", data: "[DONE]" }
    ]
  }
}

/** A transcript with only a final answer. */
export const agentAnswer = (answer: string, model = "claude-4-sonnet"): AgentResponse => ({
  frames: [
    { event: "message", data: completion(`chatcmpl-${randomUUID().slice(0, 20)}`, model, { role: "assistant", content: answer }, "stop", { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }) },
    { event: "done", data: "[DONE]" }
  ]
})

/** A scripted chat turn as OpenAI-compatible chunks. */
const chatChunks = (turn: ScriptedModel.ReplyTurn, model: string, index: number, includeUsage: boolean): Array<unknown> => {
  const id = `chatcmpl-${index}`
  const base = { id, object: "chat.completion.chunk", created: 1748541138, model }
  const chunks: Array<unknown> = [{ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" } }] }]
  const texts = ScriptedModel.textChunks(turn)
  for (const text of texts) chunks.push({ ...base, choices: [{ index: 0, delta: { content: text } }] })
  turn.toolCalls.forEach((call, i) => {
    const args = ScriptedModel.argumentsText(call)
    const half = Math.floor(args.length / 2)
    const callId = call.id ?? `call_${index}_${i + 1}`
    chunks.push({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: i, id: callId, type: "function", function: { name: call.name, arguments: args.slice(0, half) } }] } }] })
    chunks.push({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: i, function: { arguments: args.slice(half) } }] } }] })
  })
  const finish = turn.finishReason ?? (turn.toolCalls.length > 0 ? "tool_calls" : "stop")
  chunks.push({ ...base, choices: [{ index: 0, delta: {}, finish_reason: finish }] })
  // As OpenAI does: the usage chunk only when `stream_options.include_usage` asked for it.
  const usage = turn.usage ?? { inputTokens: 12, outputTokens: 7 }
  if (includeUsage) {
    chunks.push({ ...base, choices: [], usage: { prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens } })
  }
  return chunks
}

const wholeCompletion = (turn: ScriptedModel.ReplyTurn, model: string, index: number) => {
  const text = ScriptedModel.textChunks(turn).join("")
  const usage = turn.usage ?? { inputTokens: 12, outputTokens: 7 }
  return {
    id: `chatcmpl-${index}`,
    object: "chat.completion",
    created: 1748541138,
    model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: text.length === 0 ? null : text,
          refusal: null,
          ...(turn.toolCalls.length === 0
            ? {}
            : {
                tool_calls: turn.toolCalls.map((call, i) => ({
                  id: call.id ?? `call_${index}_${i + 1}`,
                  type: "function",
                  function: { name: call.name, arguments: ScriptedModel.argumentsText(call) }
                }))
              })
        },
        finish_reason: turn.finishReason ?? (turn.toolCalls.length > 0 ? "tool_calls" : "stop")
      }
    ],
    usage: { prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens }
  }
}

/** `response_format`, checked as strictly as OpenAI-compatible servers do: `json_schema` with a name and a schema object. */
const responseFormatProblem = (format: unknown): string | undefined => {
  if (format === undefined) return undefined
  const f = format as { type?: unknown; json_schema?: { name?: unknown; schema?: unknown } }
  if (f === null || typeof f !== "object" || !["text", "json_object", "json_schema"].includes(f.type as string)) {
    return "response_format.type must be one of text, json_object, json_schema"
  }
  if (f.type !== "json_schema") return undefined
  if (typeof f.json_schema?.name !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(f.json_schema.name)) return "response_format.json_schema.name is invalid"
  if (typeof f.json_schema.schema !== "object" || f.json_schema.schema === null) return "response_format.json_schema.schema must be an object"
  return undefined
}

/** What `GET /available-models` answers: Heroku's shape (model id, types, regions). */
export const AVAILABLE_MODELS: ReadonlyArray<{ readonly model_id: string; readonly type: ReadonlyArray<string>; readonly regions: ReadonlyArray<string> }> = [
  { model_id: "claude-4-5-sonnet", type: ["text-to-text"], regions: ["us", "eu"] },
  { model_id: "claude-4-5-haiku", type: ["text-to-text"], regions: ["us", "eu"] },
  { model_id: "gpt-oss-120b", type: ["text-to-text"], regions: ["us"] },
  { model_id: "cohere-embed-multilingual", type: ["text-to-embedding"], regions: ["us", "eu"] }
]

export const make = (options: Options = {}): Effect.Effect<FakeHerokuInference, never, Scope.Scope> => {
  const key = options.key ?? "inference-key"
  const model = options.model ?? "claude-4-sonnet"
  const chat = [...(options.chat ?? [])]
  const agents = [...(options.agents ?? [])]
  let chatIndex = 0
  return Effect.map(
    FakeHttp.make((request): FakeHttp.Reply => {
      // The model catalog is public (Heroku's CLI sends no key for it).
      if (request.method === "GET" && request.path === "/available-models") return { json: AVAILABLE_MODELS }
      if (request.headers["authorization"] !== `Bearer ${key}`) {
        return { status: 401, json: { error: { message: "Invalid API key", type: "authentication_error" } } }
      }
      if (request.method === "POST" && request.path === "/v1/chat/completions") {
        const invalid = invalidFields(request.body, "chat", options.rejectStreamOptions === true)
        if (invalid !== undefined) return { status: 400, json: { error: { message: invalid, type: "invalid_request_error" } } }
        const formatProblem = responseFormatProblem(request.body?.response_format)
        if (formatProblem !== undefined) return { status: 400, json: { error: { message: formatProblem, type: "invalid_request_error" } } }
        const answer = FakeHttp.next(chat, "chat completions")
        chatIndex++
        if (FakeHttp.isFaultOrError(answer)) return FakeHttp.faultOrErrorReply(answer)
        if ("frames" in answer) return { sse: answer.frames, ...FakeHttp.hostileOf(answer) }
        const includeUsage = request.body?.stream_options?.include_usage === true
        const turn = "turn" in answer ? answer.turn : answer
        if (turn._tag === "Error") return { status: turn.retryable ? 503 : 400, json: { error: { message: turn.message } } }
        if (turn._tag !== "Reply") throw new Error("the fake plays Reply and Error turns only")
        if (request.body?.stream === true) {
          return { sse: [...chatChunks(turn, model, chatIndex, includeUsage).map((data) => ({ data })), { data: "[DONE]" }], ...("turn" in answer ? FakeHttp.hostileOf(answer) : {}) }
        }
        return { json: wholeCompletion(turn, model, chatIndex) }
      }
      if (request.method === "POST" && request.path === "/v1/agents/heroku") {
        const invalid = invalidFields(request.body, "agents", false)
        if (invalid !== undefined) return { status: 400, json: { error: { message: invalid, type: "invalid_request_error" } } }
        const answer = FakeHttp.next(agents, "agents")
        if (FakeHttp.isFaultOrError(answer)) return FakeHttp.faultOrErrorReply(answer)
        return { sse: answer.frames, separator: "", ...FakeHttp.hostileOf(answer) }
      }
      return { status: 404, json: { error: { message: `no route ${request.method} ${request.path}` } } }
    }, options),
    (server) => ({ ...server, key, model, connection: { url: server.url, key: Redacted.make(key), model } })
  )
}

/** The running fake, in a layer made by `layer` (e.g. `const fake = yield* FakeHerokuInference.Fake` to read its requests). */
export class Fake extends Context.Service<Fake, FakeHerokuInference>()("@agentloop/testing/FakeHerokuInference") {}

/**
 * The fake for the layer's lifetime, with the layer `model` makes for it: e.g.
 * `FakeHerokuInference.layer({ chat }, (fake) => ChatModel.layerFetch(fake.connection))`.
 * No scope to manage: the fake closes with the layer.
 */
export const layer = <ROut, E, R>(options: Options, model: (fake: FakeHerokuInference) => Layer.Layer<ROut, E, R>): Layer.Layer<Fake | ROut, E, R> =>
  FakeHttp.layerWith(Fake, make(options), model)
