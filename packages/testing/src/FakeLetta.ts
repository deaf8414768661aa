/**
 * A fake Letta server on loopback, following the OSS server's behaviour (letta.md):
 *
 * - `POST /v1/agents/{id}/messages/stream` plays scripted turns as data-only SSE (`message_type` events,
 *   then `stop_reason`, `usage_statistics`, `[DONE]`). Client tools and tools that need approval end the
 *   turn with `approval_request_message` + `stop_reason: requires_approval`; the next request must answer
 *   exactly the pending ids (else 400 "Invalid tool call IDs"), and a user message while calls are pending
 *   gets 409 `PENDING_APPROVAL`. Approved server tools then report their return; denied ones an error.
 * - The Tools API: list (cursor paging), attach, detach, approval (`{"requires_approval": bool}`, extra
 *   keys refused with 422), run; and the agent's `tool_rules` (optionally dropping some rule types, as
 *   Letta Cloud was reported to).
 * - Request bodies are checked strictly: a field `LettaStreamingRequest`, its messages or the tool run do
 *   not have gets the server's 422 `extra_forbidden`.
 *
 * @since 0.1.0
 */
import { Context, Effect, type Layer, type Scope } from "effect"
import * as FakeHttp from "./FakeHttp.js"

export type Item =
  | { readonly kind: "assistant"; readonly text: string }
  | { readonly kind: "reasoning"; readonly text: string }
  /** A tool Letta runs itself, with its result. */
  | { readonly kind: "server_tool"; readonly name: string; readonly args: unknown; readonly result: string; readonly status?: "success" | "error" }
  /** A call of one of the client's tools: the client must return its result. */
  | { readonly kind: "client_tool"; readonly name: string; readonly args: unknown; readonly id?: string }
  /** A Letta tool that needs approval; `result` is what it returns once approved. */
  | { readonly kind: "approval"; readonly name: string; readonly args: unknown; readonly result: string; readonly id?: string }
  | { readonly kind: "raw"; readonly data: unknown }
  | { readonly kind: "error"; readonly message: string }

export type Turn =
  | ReadonlyArray<Item>
  | FakeHttp.Fault
  | FakeHttp.ErrorAnswer
  | { readonly items: ReadonlyArray<Item>; readonly dropAfter?: number; readonly hostile?: FakeHttp.Hostile }

const streamFields = [
  "messages", "input", "max_steps", "include_return_message_types", "client_tools", "override_model", "override_system", "include_compaction_messages",
  "streaming", "stream_tokens", "include_pings", "background", "use_assistant_message", "assistant_message_tool_name", "assistant_message_tool_kwarg"
]
const messageCreateFields = ["type", "role", "content", "name", "otid", "sender_id", "group_id", "batch_item_id"]
const approvalCreateFields = ["type", "approvals", "approve", "approval_request_id", "reason", "group_id"]
const approvalFields: Record<string, ReadonlyArray<string>> = {
  approval: ["type", "tool_call_id", "approve", "reason"],
  tool: ["type", "tool_call_id", "tool_return", "status", "stdout", "stderr"]
}

/** The `LettaStreamingRequest` fields, strictly: unknown ones get the server's 422 `extra_forbidden`. */
const invalidStreamBody = (body: any): FakeHttp.Reply | undefined => {
  const bad = FakeHttp.unknownFields(body, streamFields)
  ;(Array.isArray(body?.messages) ? body.messages : []).forEach((m: any, i: number) => {
    if (m?.type === "approval") {
      bad.push(...FakeHttp.unknownFields(m, approvalCreateFields, `body.messages.${i}`))
      ;(Array.isArray(m.approvals) ? m.approvals : []).forEach((a: any, j: number) => {
        const allowed = approvalFields[String(a?.type)]
        if (allowed === undefined) bad.push(`body.messages.${i}.approvals.${j}.type`)
        else bad.push(...FakeHttp.unknownFields(a, allowed, `body.messages.${i}.approvals.${j}`))
      })
    } else bad.push(...FakeHttp.unknownFields(m, messageCreateFields, `body.messages.${i}`))
  })
  ;(Array.isArray(body?.client_tools) ? body.client_tools : []).forEach((t: unknown, i: number) =>
    bad.push(...FakeHttp.unknownFields(t, ["name", "description", "parameters"], `body.client_tools.${i}`))
  )
  return bad.length === 0 ? undefined : { status: 422, json: { detail: bad.map((path) => ({ loc: path.split("."), msg: "Extra inputs are not permitted", type: "extra_forbidden" })) } }
}

export interface Tool {
  readonly id: string
  readonly name: string
  attached: boolean
  requiresApproval: boolean
}

/** `hostile` and `faults` (see `FakeHttp.Misbehaviour`) apply to every request. */
export interface Options extends FakeHttp.Misbehaviour {
  readonly apiKey?: string
  readonly agentId?: string
  readonly turns?: ReadonlyArray<Turn>
  readonly tools?: ReadonlyArray<{ readonly id: string; readonly name: string; readonly attached?: boolean }>
  /** Rule types the server accepts but does not keep (to test reading rules back). */
  readonly dropRuleTypes?: ReadonlyArray<string>
}

export interface FakeLetta extends FakeHttp.Server {
  readonly apiKey: string
  readonly agentId: string
  readonly tools: ReadonlyArray<Tool>
  /** Client-tool results the agent received, by tool-call id. */
  readonly clientReturns: ReadonlyMap<string, { readonly tool_return: unknown; readonly status: string }>
  readonly toolRules: () => ReadonlyArray<unknown>
}

export const make = (options: Options = {}): Effect.Effect<FakeLetta, never, Scope.Scope> => {
  const apiKey = options.apiKey ?? "letta-key"
  const agentId = options.agentId ?? "agent-00000000-0000-4000-8000-000000000001"
  const turns = [...(options.turns ?? [])]
  const tools: Array<Tool> = (options.tools ?? []).map((t) => ({ id: t.id, name: t.name, attached: t.attached ?? true, requiresApproval: false }))
  let rules: Array<Record<string, unknown>> = []
  const pending = new Map<string, { kind: "client_tool" | "approval"; name: string; result?: string }>()
  const clientReturns = new Map<string, { tool_return: unknown; status: string }>()
  let counter = 0
  const id = (prefix: string) => `${prefix}-${(++counter).toString().padStart(8, "0")}`
  const common = () => ({ id: id("message"), date: "2026-01-01T00:00:00Z", run_id: "run-fake", step_id: id("step") })
  const notFound = (what: string): FakeHttp.Reply => ({ status: 404, json: { detail: `${what} not found` } })

  const frames = (items: ReadonlyArray<Item>, before: Array<unknown>): Array<FakeHttp.SseFrame> => {
    const out: Array<unknown> = [...before]
    let approvals: Array<{ tool_call_id: string; name: string; arguments: string }> = []
    for (const item of items) {
      switch (item.kind) {
        case "assistant":
          out.push({ ...common(), message_type: "assistant_message", content: item.text })
          break
        case "reasoning":
          out.push({ ...common(), message_type: "reasoning_message", reasoning: item.text, source: "reasoner_model" })
          break
        case "server_tool": {
          const callId = id("call")
          out.push({ ...common(), message_type: "tool_call_message", tool_call: { name: item.name, arguments: JSON.stringify(item.args), tool_call_id: callId }, tool_calls: [{ name: item.name, arguments: JSON.stringify(item.args), tool_call_id: callId }] })
          out.push({ ...common(), message_type: "tool_return_message", name: item.name, tool_return: item.result, status: item.status ?? "success", tool_call_id: callId })
          break
        }
        case "client_tool":
        case "approval": {
          const callId = item.id ?? id("call")
          pending.set(callId, { kind: item.kind, name: item.name, ...(item.kind === "approval" ? { result: item.result } : {}) })
          approvals.push({ tool_call_id: callId, name: item.name, arguments: JSON.stringify(item.args) })
          break
        }
        case "raw":
          out.push(item.data)
          break
        case "error":
          out.push({ ...common(), message_type: "stop_reason", stop_reason: "error" })
          return [...out.map((data) => ({ data })), { event: "error", data: { message_type: "error_message", error_type: "internal_error", message: item.message, detail: item.message } }]
      }
    }
    if (approvals.length > 0) {
      out.push({ ...common(), message_type: "approval_request_message", tool_call: approvals[0], tool_calls: approvals })
      approvals = []
    }
    out.push({ message_type: "stop_reason", stop_reason: pending.size > 0 ? "requires_approval" : "end_turn" })
    out.push({ message_type: "usage_statistics", completion_tokens: 12, prompt_tokens: 40, total_tokens: 52, step_count: 1 })
    return [...out.map((data) => ({ data })), { data: "[DONE]" }]
  }

  const stream = (body: Record<string, any>): FakeHttp.Reply => {
    const invalid = invalidStreamBody(body)
    if (invalid !== undefined) return invalid
    const messages = (body["messages"] ?? []) as Array<Record<string, any>>
    const approval = messages.find((m) => m["type"] === "approval")
    const before: Array<unknown> = []
    if (approval !== undefined) {
      if (pending.size === 0) return { status: 400, json: { detail: "No tool call is currently awaiting approval" } }
      const answers = (approval["approvals"] ?? []) as Array<Record<string, any>>
      const given = answers.map((a) => String(a["tool_call_id"])).sort()
      const expected = [...pending.keys()].sort()
      if (given.length !== expected.length || given.some((g, i) => g !== expected[i])) {
        return { status: 400, json: { detail: `Invalid tool call IDs. Expected '${JSON.stringify(expected)}', but received '${JSON.stringify(given)}'` } }
      }
      for (const answer of answers) {
        const callId = String(answer["tool_call_id"])
        const call = pending.get(callId)!
        if (answer["type"] === "tool") {
          clientReturns.set(callId, { tool_return: answer["tool_return"], status: String(answer["status"]) })
        } else if (call.kind === "approval") {
          const approved = answer["approve"] === true
          before.push({
            ...common(),
            message_type: "tool_return_message",
            name: call.name,
            tool_call_id: callId,
            status: approved ? "success" : "error",
            tool_return: approved ? call.result : `Error: request to call tool denied. User reason: ${answer["reason"] ?? "None"}`
          })
        }
      }
      pending.clear()
    } else if (pending.size > 0) {
      return {
        status: 409,
        json: {
          detail: {
            code: "PENDING_APPROVAL",
            message: "Cannot send a new message: The agent is waiting for approval on a tool call. Please approve or deny the pending request before continuing.",
            pending_request_id: "message-pending"
          }
        }
      }
    }
    const turn = FakeHttp.next(turns, "letta")
    if (!Array.isArray(turn) && FakeHttp.isFaultOrError(turn)) return FakeHttp.faultOrErrorReply(turn)
    if ("items" in turn) return { sse: frames(turn.items, before), ...FakeHttp.hostileOf(turn) }
    return { sse: frames(turn as ReadonlyArray<Item>, before) }
  }

  return Effect.map(
    FakeHttp.make((request): FakeHttp.Reply => {
      if (request.headers["authorization"] !== `Bearer ${apiKey}`) return { status: 401, json: { detail: "Invalid API key" } }
      const body = (request.body ?? {}) as Record<string, any>
      const match = /^\/v1\/agents\/([^/]+)(\/.*)?$/.exec(request.path)
      if (match === null || decodeURIComponent(match[1]!) !== agentId) return notFound("Agent")
      const rest = match[2] ?? ""
      const agentState = () => ({ id: agentId, name: "fake-agent", tool_rules: rules, tools: tools.filter((t) => t.attached).map((t) => ({ id: t.id, name: t.name })) })
      if (request.method === "POST" && rest === "/messages/stream") return stream(body)
      if (request.method === "GET" && rest === "") return { json: agentState() }
      if (request.method === "PATCH" && rest === "") {
        if (Array.isArray(body["tool_rules"])) {
          rules = (body["tool_rules"] as Array<Record<string, unknown>>).filter((r) => !(options.dropRuleTypes ?? []).includes(String(r["type"])))
        }
        return { json: agentState() }
      }
      if (request.method === "GET" && rest === "/tools") {
        const order = request.query.get("order") === "asc" ? "asc" : "desc"
        const limit = Number(request.query.get("limit") ?? 10)
        let list = tools.filter((t) => t.attached).sort((a, b) => (order === "asc" ? a.id.localeCompare(b.id) : b.id.localeCompare(a.id)))
        const after = request.query.get("after")
        if (after !== null) list = list.slice(list.findIndex((t) => t.id === after) + 1)
        const before = request.query.get("before")
        if (before !== null) list = list.slice(0, Math.max(0, list.findIndex((t) => t.id === before)))
        return { json: list.slice(0, limit).map((t) => ({ id: t.id, name: t.name, tool_type: "custom", default_requires_approval: t.requiresApproval })) }
      }
      const attach = /^\/tools\/(attach|detach)\/([^/]+)$/.exec(rest)
      if (request.method === "PATCH" && attach !== null) {
        const tool = tools.find((t) => t.id === decodeURIComponent(attach[2]!))
        if (tool === undefined) return notFound("Tool")
        tool.attached = attach[1] === "attach"
        return { json: null }
      }
      const approvalRoute = /^\/tools\/approval\/([^/]+)$/.exec(rest)
      if (request.method === "PATCH" && approvalRoute !== null) {
        const extra = Object.keys(body).filter((k) => k !== "requires_approval")
        if (extra.length > 0) return { status: 422, json: { detail: extra.map((k) => ({ loc: ["body", k], msg: "Extra inputs are not permitted", type: "extra_forbidden" })) } }
        if (typeof body["requires_approval"] !== "boolean") return { status: 422, json: { detail: [{ loc: ["body", "requires_approval"], msg: "Field required", type: "missing" }] } }
        const tool = tools.find((t) => t.name === decodeURIComponent(approvalRoute[1]!) && t.attached)
        if (tool === undefined) return notFound("Tool")
        tool.requiresApproval = body["requires_approval"]
        rules = rules.filter((r) => !(r["type"] === "requires_approval" && r["tool_name"] === tool.name))
        if (tool.requiresApproval) rules.push({ type: "requires_approval", tool_name: tool.name })
        return { json: null }
      }
      const run = /^\/tools\/([^/]+)\/run$/.exec(rest)
      if (request.method === "POST" && run !== null) {
        const extra = FakeHttp.unknownFields(body, ["args"])
        if (extra.length > 0) return { status: 422, json: { detail: extra.map((path) => ({ loc: path.split("."), msg: "Extra inputs are not permitted", type: "extra_forbidden" })) } }
        const tool = tools.find((t) => t.name === decodeURIComponent(run[1]!) && t.attached)
        if (tool === undefined) return notFound("Tool")
        return { json: { status: "success", func_return: { tool: tool.name, args: body["args"] ?? {} }, agent_state: null, stdout: [], stderr: [] } }
      }
      return { status: 404, json: { detail: `no route ${request.method} ${request.path}` } }
    }, options),
    (server) => ({ ...server, apiKey, agentId, tools, clientReturns, toolRules: () => rules })
  )
}

/** The running fake, in a layer made by `layer` (e.g. `const fake = yield* FakeLetta.Fake` to read its requests). */
export class Fake extends Context.Service<Fake, FakeLetta>()("@agentloop/testing/FakeLetta") {}

/**
 * The fake for the layer's lifetime, with the layer `model` makes for it: e.g.
 * `FakeLetta.layer({ turns }, (fake) => LettaModel.layerFetch({ baseUrl: fake.url, apiKey: Redacted.make(fake.apiKey), agentId: fake.agentId }))`.
 * No scope to manage: the fake closes with the layer.
 */
export const layer = <ROut, E, R>(options: Options, model: (fake: FakeLetta) => Layer.Layer<ROut, E, R>): Layer.Layer<Fake | ROut, E, R> =>
  FakeHttp.layerWith(Fake, make(options), model)
