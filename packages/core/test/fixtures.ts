/** Shared tools and helpers for the core tests. */
import { Agent, AgentBackend, type AgentEvent, Approval, Loop, Message, RunState, RunStore, Tool, Toolkit, type ToolRule } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { Effect, Layer, Schema, Stream } from "effect"

export const Echo = Tool.make("echo", {
  description: "Echo the text back.",
  parameters: { text: Schema.String },
  success: Schema.String
})

export const Add = Tool.make("add", {
  description: "Add two integers.",
  parameters: { a: Schema.Int, b: Schema.Int },
  success: Schema.Number
})

/** Returns its `value` argument verbatim: drives conditional rules. */
export const Decide = Tool.make("decide", {
  description: "Return the given value.",
  parameters: { value: Schema.String },
  success: Schema.String
})

export const Finish = Tool.make("finish", {
  description: "Finish the task.",
  parameters: { summary: Schema.optional(Schema.String) },
  success: Schema.String
})

export const Save = Tool.make("save", { description: "Save progress.", success: Schema.String })

export const Deploy = Tool.make("deploy", {
  description: "Deploy a release (needs approval).",
  parameters: { version: Schema.String },
  success: Schema.String,
  requiresApproval: true
})

export const Fail = Tool.make("fail", {
  description: "Always fails.",
  success: Schema.String,
  failure: Schema.Struct({ code: Schema.String })
})

export const Tools = Toolkit.make(Echo, Add, Decide, Finish, Save, Deploy, Fail)

/** Handler calls, in order, so tests can assert what ran (and how often). */
export const makeHandlers = () => {
  const calls: Array<{ tool: string; args: unknown; idempotencyKey: string }> = []
  const log = (tool: string, args: unknown, idempotencyKey: string) => calls.push({ tool, args, idempotencyKey })
  const layer = Tools.toLayer({
    echo: ({ text }, ctx) => Effect.sync(() => (log("echo", { text }, ctx.idempotencyKey), text)),
    add: ({ a, b }, ctx) => Effect.sync(() => (log("add", { a, b }, ctx.idempotencyKey), a + b)),
    decide: ({ value }, ctx) => Effect.sync(() => (log("decide", { value }, ctx.idempotencyKey), value)),
    finish: (args, ctx) => Effect.sync(() => (log("finish", args, ctx.idempotencyKey), "finished")),
    save: (_, ctx) => Effect.sync(() => (log("save", {}, ctx.idempotencyKey), "saved")),
    deploy: ({ version }, ctx) => Effect.sync(() => (log("deploy", { version }, ctx.idempotencyKey), `deployed ${version}`)),
    fail: (_, ctx) => Effect.suspend(() => (log("fail", {}, ctx.idempotencyKey), Effect.fail({ code: "E_BROKEN" })))
  })
  return { calls, layer, names: () => calls.map((c) => c.tool) }
}

export const agent = (options: Partial<Agent.Options<typeof Tools.tools>> & { rules?: ReadonlyArray<ToolRule.ToolRule> } = {}) =>
  Agent.make({ name: "test-agent", toolkit: Tools, ...options })

export interface Harness {
  readonly model: ScriptedModel.ScriptedModel
  readonly handlers: ReturnType<typeof makeHandlers>
  readonly layer: Layer.Layer<AgentBackend.AgentBackend, Loop.LoopError>
}

/** A local backend over a scripted model, in-memory store, and the given approvals layer. */
export const harness = (
  turns: ReadonlyArray<ScriptedModel.Turn>,
  options: {
    agent?: Agent.Agent<typeof Tools.tools>
    approvals?: Layer.Layer<Approval.Approvals>
    store?: Layer.Layer<RunStore.RunStore>
  } = {}
): Harness => {
  const model = ScriptedModel.make(turns)
  const handlers = makeHandlers()
  const layer = AgentBackend.layerLocal(options.agent ?? agent()).pipe(
    Layer.provide(
      Layer.mergeAll(
        model.layerUnchecked,
        handlers.layer,
        options.approvals ?? Approval.layerAutoApprove,
        options.store ?? RunStore.layerMemory
      )
    )
  )
  return { model, handlers, layer }
}

/** Runs to the outcome, collecting every event. */
export const collect = (stream: Stream.Stream<AgentEvent.AgentEvent, AgentBackend.AgentError>) =>
  Effect.gen(function* () {
    const events = yield* Stream.runCollect(stream)
    const last = events[events.length - 1]
    if (last?._tag !== "RunFinished") throw new Error(`stream did not end with RunFinished: ${JSON.stringify(last)}`)
    return { events, outcome: last.outcome }
  })

export const runCollect = (input: string) =>
  Effect.flatMap(AgentBackend.AgentBackend, (backend) => collect(backend.stream({ input })))

export const toolResults = (events: ReadonlyArray<AgentEvent.AgentEvent>) =>
  events.filter((e): e is Extract<AgentEvent.AgentEvent, { _tag: "ToolResult" }> => e._tag === "ToolResult")

/** A run state at its start (one user message, nothing done yet), for store tests. */
export const initialState = (fields: { readonly runId: string; readonly agent: string; readonly status: RunState.RunStatus; readonly input: string }) =>
  new RunState.RunState({
    version: 1,
    runId: fields.runId,
    agent: fields.agent,
    status: fields.status,
    messages: [Message.user(fields.input)],
    step: 0,
    toolHistory: [],
    toolChoiceUsed: false,
    queue: [],
    executedInStep: [],
    pending: [],
    usage: Message.Usage.empty
  })
