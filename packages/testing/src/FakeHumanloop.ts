/**
 * A fake of Humanloop's Agents API (v5) on loopback. `POST /v5/agents/call` and `POST /v5/agents/continue`
 * play `ScriptedModel` turns: a turn with tool calls suspends the log (`log_status: "incomplete"`,
 * `previous_agent_message.tool_calls`), a text turn completes it. With `stream: true` the same answers come
 * as data-only SSE events (`agent_start`, `agent_update` with `payload.output`, `tool_start`,
 * `agent_turn_suspend` / `agent_turn_end`, `agent_end`).
 *
 * It checks `X-API-KEY`, refuses fields the request types do not have (422 `extra_forbidden`), requires
 * inline tools to carry a JSON schema, and refuses to continue a log that is not incomplete or whose
 * pending tool calls are not all answered (422, with Humanloop's `detail` body).
 *
 * @since 0.1.0
 */
import { Context, Effect, type Layer, type Scope } from "effect"
import * as FakeHttp from "./FakeHttp.js"
import * as ScriptedModel from "./ScriptedModel.js"

/** Exact SSE frames complete the log. */
export type Answer = FakeHttp.TurnAnswer

/** `hostile` and `faults` (see `FakeHttp.Misbehaviour`) apply to every request. */
export interface Options extends FakeHttp.Misbehaviour {
  readonly apiKey?: string
  readonly turns?: ReadonlyArray<Answer>
}

const callFields = [
  "stream", "path", "id", "messages", "tool_choice", "agent", "inputs", "source", "metadata", "start_time", "end_time",
  "source_datapoint_id", "trace_parent_id", "user", "environment", "save", "log_id", "provider_api_keys", "return_inputs", "include_trace_children"
]
const continueFields = ["log_id", "messages", "stream", "provider_api_keys", "include_trace_children"]
const messageFields = ["role", "content", "name", "tool_call_id", "tool_calls", "thinking"]

/** Unknown fields, as Humanloop's validation reports them (422, one `detail` entry per field). */
const extraFields = (body: any, allowed: ReadonlyArray<string>): FakeHttp.Reply | undefined => {
  const bad = [
    ...FakeHttp.unknownFields(body, allowed),
    ...(Array.isArray(body?.messages) ? body.messages : []).flatMap((m: unknown, i: number) => FakeHttp.unknownFields(m, messageFields, `body.messages.${i}`))
  ]
  return bad.length === 0 ? undefined : { status: 422, json: { detail: bad.map((path) => ({ loc: path.split("."), msg: "Extra inputs are not permitted", type: "extra_forbidden" })) } }
}

interface Log {
  readonly id: string
  status: "complete" | "incomplete"
  pending: Array<string>
  messages: Array<unknown>
}

export interface FakeHumanloop extends FakeHttp.Server {
  readonly apiKey: string
  readonly logs: ReadonlyMap<string, Log>
}

const detail = (status: number, loc: ReadonlyArray<string>, msg: string): FakeHttp.Reply => ({
  status,
  json: { detail: [{ loc, msg, type: "value_error" }] }
})

export const make = (options: Options = {}): Effect.Effect<FakeHumanloop, never, Scope.Scope> => {
  const apiKey = options.apiKey ?? "hl-key"
  const turns = [...(options.turns ?? [])]
  const logs = new Map<string, Log>()
  let counter = 0

  const play = (log: Log, stream: boolean): FakeHttp.Reply => {
    const answer = FakeHttp.next(turns, "humanloop")
    if (FakeHttp.isFaultOrError(answer)) return FakeHttp.faultOrErrorReply(answer)
    if ("frames" in answer) {
      log.status = "complete"
      return { sse: answer.frames, ...FakeHttp.hostileOf(answer) }
    }
    const hostile = "turn" in answer ? FakeHttp.hostileOf(answer) : {}
    const turn = "turn" in answer ? answer.turn : answer
    if (turn._tag === "Error") return { status: turn.retryable ? 503 : 400, json: { detail: turn.message } }
    if (turn._tag !== "Reply") throw new Error("the fake plays Reply and Error turns only")
    const chunks = ScriptedModel.textChunks(turn)
    const text = chunks.join("")
    const toolCalls = turn.toolCalls.map((call, i) => ({
      id: call.id ?? `tc_${log.id}_${log.messages.length}_${i + 1}`,
      type: "function",
      function: { name: call.name, arguments: ScriptedModel.argumentsText(call) }
    }))
    const assistant = { role: "assistant", content: text, ...(toolCalls.length === 0 ? {} : { tool_calls: toolCalls }) }
    log.messages.push(assistant)
    log.status = toolCalls.length > 0 ? "incomplete" : "complete"
    log.pending = toolCalls.map((c) => c.id)
    const usage = turn.usage ?? { inputTokens: 20, outputTokens: 8 }
    if (!stream) {
      return {
        json: {
          id: log.id,
          log_status: log.status,
          ...(log.status === "incomplete" ? { previous_agent_message: assistant } : { output_message: assistant, output: text }),
          finish_reason: log.status === "incomplete" ? "tool_call" : (turn.finishReason ?? "stop"),
          messages: log.messages,
          prompt_tokens: usage.inputTokens,
          output_tokens: usage.outputTokens,
          agent: { id: "ag_fake", path: "Fake/Agent", type: "agent" },
          evaluator_logs: []
        }
      }
    }
    const event = (type: string, payload?: unknown) => ({
      data: { log_id: log.id, type, message: type, created_at: "2025-05-20T00:00:00Z", ...(payload === undefined ? {} : { payload }) }
    })
    const frames = [
      event("agent_start"),
      event("agent_turn_start"),
      ...chunks.map((output) => event("agent_update", { id: log.id, agent_id: "ag_fake", version_id: "agv_fake", output })),
      ...toolCalls.map((call) => event("tool_start", call)),
      event("agent_update", { id: log.id, agent_id: "ag_fake", version_id: "agv_fake", prompt_tokens: usage.inputTokens, output_tokens: usage.outputTokens }),
      ...(log.status === "incomplete" ? [event("agent_turn_suspend")] : [event("agent_turn_end"), event("agent_end")]),
      { data: "[DONE]" }
    ]
    return { sse: frames, ...hostile }
  }

  return Effect.map(
    FakeHttp.make((request): FakeHttp.Reply => {
      if (request.headers["x-api-key"] !== apiKey) {
        return { status: 401, json: { detail: "Your API key is incorrect or missing. Please check your X-API-KEY header." } }
      }
      const body = (request.body ?? {}) as Record<string, any>
      if (request.method === "POST" && request.path === "/v5/agents/call") {
        const extra = extraFields(body, callFields)
        if (extra !== undefined) return extra
        if (body["path"] === undefined && body["id"] === undefined) return detail(422, ["body", "path"], "Either path or id is required")
        const tools = (body["agent"]?.["tools"] ?? []) as Array<any>
        const bad = tools.findIndex((t) => t?.type === "inline" && typeof t?.json_schema?.name !== "string")
        if (bad !== -1) return detail(422, ["body", "agent", "tools", String(bad), "json_schema"], "field required")
        const log: Log = { id: `log_${++counter}`, status: "incomplete", pending: [], messages: [...(body["messages"] ?? [])] }
        logs.set(log.id, log)
        return play(log, body["stream"] === true)
      }
      if (request.method === "POST" && request.path === "/v5/agents/continue") {
        const extra = extraFields(body, continueFields)
        if (extra !== undefined) return extra
        const log = logs.get(String(body["log_id"]))
        if (log === undefined) return { status: 404, json: { detail: `Log ${String(body["log_id"])} not found` } }
        if (log.status !== "incomplete") return { status: 400, json: { detail: `Log ${log.id} is not incomplete and cannot be continued` } }
        const answered = ((body["messages"] ?? []) as Array<any>).filter((m) => m?.role === "tool").map((m) => String(m.tool_call_id))
        const missing = log.pending.filter((id) => !answered.includes(id))
        if (missing.length > 0) return detail(422, ["body", "messages"], `Missing tool responses for: ${missing.join(", ")}`)
        log.messages.push(...(body["messages"] ?? []))
        return play(log, body["stream"] === true)
      }
      return { status: 404, json: { detail: `no route ${request.method} ${request.path}` } }
    }, options),
    (server) => ({ ...server, apiKey, logs })
  )
}

/** The running fake, in a layer made by `layer` (e.g. `const fake = yield* FakeHumanloop.Fake` to read its requests). */
export class Fake extends Context.Service<Fake, FakeHumanloop>()("@agentloop/testing/FakeHumanloop") {}

/**
 * The fake for the layer's lifetime, with the layer `model` makes for it: e.g.
 * `FakeHumanloop.layer({ turns }, (fake) => HumanloopModel.layerFetch({ baseUrl: fake.url, apiKey: Redacted.make(fake.apiKey), ... }))`.
 * No scope to manage: the fake closes with the layer.
 */
export const layer = <ROut, E, R>(options: Options, model: (fake: FakeHumanloop) => Layer.Layer<ROut, E, R>): Layer.Layer<Fake | ROut, E, R> =>
  FakeHttp.layerWith(Fake, make(options), model)
