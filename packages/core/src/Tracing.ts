/**
 * Opt-in tracing and metrics for runs, through Effect's tracer and metrics, following the OpenTelemetry
 * GenAI semantic conventions: a span per run (`invoke_agent`), per model step (`chat`) and per tool call
 * (`execute_tool`), approval decisions as span events; counters for tokens and tool calls and a histogram
 * of tool durations. Provide `Tracing.layer()` where the backend's layer is built, together with any Effect
 * tracer (e.g. `@effect/opentelemetry`'s `NodeSdk.layer`, which turns the spans into OpenTelemetry spans).
 *
 * Attribute names are the ones effect/ai's `Telemetry` and `Toolkit` use (`gen_ai.operation.name`,
 * `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.usage.input_tokens` / `output_tokens`,
 * `gen_ai.response.finish_reasons` as an array, `gen_ai.tool.name`, `gen_ai.tool.call.id`,
 * `gen_ai.tool.call.arguments`), so a trace reads the same whichever module emitted a span (docs/effect-ai.md).
 *
 * Without the layer the loop pays nothing: `Loop.makeRunner` looks for it once, when the runner is built.
 * Prompt, answer and tool contents are recorded only with `recordContent: true`.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Exit, Layer, Metric, Option, Tracer } from "effect"
import type { AgentEvent } from "./AgentEvent.js"
import type { RunOutcome } from "./RunState.js"

export interface Config {
  /** Record tool arguments and results, model output text and approval reasons (default false: they may hold secrets). */
  readonly recordContent: boolean
  /** `gen_ai.request.model` on `chat` spans (the loop does not know which model a `LanguageModel` serves). */
  readonly model?: string
  /** `gen_ai.provider.name` on `chat` spans. */
  readonly provider?: string
}

export class Tracing extends Context.Service<Tracing, Config>()("@agentloop/core/Tracing") {}

/** Turns tracing on for runners built where this layer is provided. */
export const layer = (options: Partial<Config> = {}): Layer.Layer<Tracing> =>
  Layer.succeed(Tracing, { recordContent: options.recordContent ?? false, ...(options.model === undefined ? {} : { model: options.model }), ...(options.provider === undefined ? {} : { provider: options.provider }) })

/** Tokens used, by `gen_ai.token.type` (`input` / `output`) and `gen_ai.agent.name` (metric attributes). */
export const tokenUsage = Metric.counter("gen_ai.client.token.usage", { description: "Tokens used by agent runs" })
/** Tool calls that got a result, by `gen_ai.agent.name`, `gen_ai.tool.name` and `outcome` (`ok` / `error`). */
export const toolCalls = Metric.counter("agentloop.tool.calls", { description: "Tool calls with a result" })
/** Seconds from a tool call's `ToolCalled` to its `ToolResult`, by `gen_ai.agent.name` and `gen_ai.tool.name`. */
export const toolDuration = Metric.histogram("agentloop.tool.duration", {
  description: "Tool call duration in seconds",
  boundaries: Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 16 })
})

type RunOptions = { readonly onEvent?: (event: AgentEvent) => void } | undefined

/**
 * Wraps a runner operation (`run` or `resume`) in an `invoke_agent` span whose children are made from the
 * run's events as they happen.
 */
export const traced =
  <Args extends ReadonlyArray<unknown>, E>(
    config: Config,
    agent: string,
    operation: (options: RunOptions, ...args: Args) => Effect.Effect<RunOutcome, E>
  ) =>
  (options: RunOptions, ...args: Args): Effect.Effect<RunOutcome, E> =>
    Effect.useSpan(
      `invoke_agent ${agent}`,
      { kind: "internal", attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent } },
      (span) =>
        Effect.withFiber((fiber) => {
          const recorder = new SpanRecorder(config, agent, fiber.getRef(Tracer.Tracer), fiber.getRef(Clock.Clock), fiber.context, span)
          const user = options?.onEvent
          const onEvent = user === undefined ? recorder.observe : (event: AgentEvent) => (user(event), recorder.observe(event))
          return operation({ onEvent }, ...args).pipe(
            Effect.tap((outcome) => recorder.outcome(outcome)),
            Effect.onExit((exit) => Effect.sync(() => recorder.closeAll(exit)))
          )
        })
    )

const toolType = { "gen_ai.tool.type": "function" } as const

/** Builds the child spans of one run from its events (synchronously: events are emitted in order). */
class SpanRecorder {
  private chat: Tracer.Span | undefined
  private chatStep = 0
  private usageSeen = false
  private readonly tools = new Map<string, { readonly span: Tracer.Span; readonly started: bigint }>()
  /** Metric updates are made in a context carrying their attributes: one per attribute set, made on first use. */
  private readonly metricContexts = new Map<string, Context.Context<never>>()

  constructor(
    private readonly config: Config,
    private readonly agent: string,
    private readonly tracer: Tracer.Tracer,
    private readonly clock: Clock.Clock,
    /** The run's context (its metric registry and attributes), which the metric updates extend. */
    private readonly context: Context.Context<never>,
    private readonly run: Tracer.Span
  ) {}

  private child(name: string, kind: Tracer.SpanKind, attributes: Record<string, unknown>): Tracer.Span {
    const span = this.tracer.span({
      name,
      parent: Option.some(this.run),
      annotations: Context.empty(),
      links: [],
      startTime: this.clock.currentTimeNanosUnsafe(),
      kind,
      root: false,
      sampled: this.run.sampled
    })
    for (const key in attributes) span.attribute(key, attributes[key])
    return span
  }

  /** The context a metric update is made in: the run's, with the agent and these attributes added. */
  private metricContext(key: string, attributes: Record<string, string>): Context.Context<never> {
    let context = this.metricContexts.get(key)
    if (context === undefined) {
      const current = Context.get(this.context, Metric.CurrentMetricAttributes)
      context = Context.add(this.context, Metric.CurrentMetricAttributes, { ...current, "gen_ai.agent.name": this.agent, ...attributes })
      this.metricContexts.set(key, context)
    }
    return context
  }

  private endChat(finishReason: string) {
    if (this.chat === undefined) return
    // An array of strings, as the GenAI conventions and effect/ai's providers (`Telemetry.addGenAIAnnotations`)
    // record it; Effect 4's OpenTelemetry bridge exports a homogeneous array as an array attribute.
    this.chat.attribute("gen_ai.response.finish_reasons", [finishReason])
    this.chat.end(this.clock.currentTimeNanosUnsafe(), Exit.void)
    this.chat = undefined
  }

  private toolSpan(runId: string, step: number, toolCallId: string, toolName: string) {
    let open = this.tools.get(toolCallId)
    if (open === undefined) {
      const span = this.child(`execute_tool ${toolName}`, "internal", {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": toolName,
        "gen_ai.tool.call.id": toolCallId,
        ...toolType,
        "agentloop.run.id": runId,
        "agentloop.step": step
      })
      open = { span, started: this.clock.currentTimeNanosUnsafe() }
      this.tools.set(toolCallId, open)
    }
    return open
  }

  readonly observe = (event: AgentEvent): void => {
    // A step's model call is over once its usage is reported and anything else happens.
    if (this.usageSeen && event._tag !== "UsageReported" && event._tag !== "TextDelta") {
      this.usageSeen = false
      this.endChat(event._tag === "StepFinished" && event.step === this.chatStep ? event.finishReason : "tool_calls")
    }
    const now = () => this.clock.currentTimeNanosUnsafe()
    switch (event._tag) {
      case "RunStarted":
        this.run.attribute("gen_ai.conversation.id", event.runId)
        this.run.attribute("agentloop.run.resumed", event.resumed)
        return
      case "StepStarted":
        this.chatStep = event.step
        this.chat = this.child(`chat${this.config.model === undefined ? "" : ` ${this.config.model}`}`, "client", {
          "gen_ai.operation.name": "chat",
          ...(this.config.model === undefined ? {} : { "gen_ai.request.model": this.config.model }),
          ...(this.config.provider === undefined ? {} : { "gen_ai.provider.name": this.config.provider }),
          "agentloop.run.id": event.runId,
          "agentloop.step": event.step,
          "gen_ai.agent.name": event.agent,
          "agentloop.tools.offered": event.tools.length
        })
        return
      case "TextDelta":
        if (this.config.recordContent && this.chat !== undefined) {
          const previous = this.chat.attributes.get("gen_ai.output.text")
          this.chat.attribute("gen_ai.output.text", `${typeof previous === "string" ? previous : ""}${event.delta}`)
        }
        return
      case "UsageReported":
        this.usageSeen = true
        if (this.chat !== undefined) {
          this.chat.attribute("gen_ai.usage.input_tokens", event.usage.inputTokens)
          this.chat.attribute("gen_ai.usage.output_tokens", event.usage.outputTokens)
        }
        tokenUsage.updateUnsafe(event.usage.inputTokens, this.metricContext("input", { "gen_ai.token.type": "input" }))
        tokenUsage.updateUnsafe(event.usage.outputTokens, this.metricContext("output", { "gen_ai.token.type": "output" }))
        return
      case "ToolCalled": {
        const { span } = this.toolSpan(event.runId, event.step, event.toolCallId, event.toolName)
        if (event.remote === true) span.attribute("agentloop.tool.remote", true)
        if (this.config.recordContent) span.attribute("gen_ai.tool.call.arguments", JSON.stringify(event.arguments))
        return
      }
      case "ApprovalRequested": {
        const { span } = this.toolSpan(event.runId, event.step, event.approval.toolCallId, event.approval.toolName)
        span.event("approval.requested", now(), { "agentloop.approval.id": event.approval.approvalId })
        return
      }
      case "ApprovalDecided": {
        const { span } = this.toolSpan(event.runId, event.step, event.toolCallId, event.toolName)
        span.event("approval.decided", now(), {
          "agentloop.approval.approved": event.approved,
          ...(event.decidedBy === undefined ? {} : { "agentloop.approval.decided_by": event.decidedBy }),
          ...(this.config.recordContent && event.reason !== undefined ? { "agentloop.approval.reason": event.reason } : {})
        })
        return
      }
      case "ToolResult": {
        const { span, started } = this.toolSpan(event.runId, event.step, event.toolCallId, event.toolName)
        this.tools.delete(event.toolCallId)
        if (this.config.recordContent) span.attribute("gen_ai.tool.call.result", event.content)
        if (event.isError) span.attribute("error.type", event.errorKind ?? "tool_error")
        const end = now()
        span.end(end, event.isError ? Exit.fail(event.errorKind ?? "tool_error") : Exit.void)
        const outcome = event.isError ? "error" : "ok"
        toolCalls.updateUnsafe(1, this.metricContext(`${outcome}:${event.toolName}`, { "gen_ai.tool.name": event.toolName, outcome }))
        toolDuration.updateUnsafe(Number(end - started) / 1e9, this.metricContext(`tool:${event.toolName}`, { "gen_ai.tool.name": event.toolName }))
        return
      }
      case "StepFinished":
        if (event.step === this.chatStep) this.endChat(event.finishReason)
        return
      case "HandedOff":
        this.run.event("agent.handoff", now(), { "agentloop.handoff.from": event.from, "agentloop.handoff.to": event.to, "gen_ai.tool.call.id": event.toolCallId })
        return
      case "Raw":
      case "RunFinished":
        return
    }
  }

  outcome(outcome: RunOutcome): Effect.Effect<void> {
    return Effect.sync(() => {
      this.run.attribute("agentloop.outcome", outcome._tag)
      this.run.attribute("agentloop.steps", outcome.steps)
      this.run.attribute("gen_ai.usage.input_tokens", outcome.usage.inputTokens)
      this.run.attribute("gen_ai.usage.output_tokens", outcome.usage.outputTokens)
      if (outcome._tag !== "Suspended") this.run.attribute("agentloop.outcome.reason", outcome.reason)
      else this.run.attribute("agentloop.approvals.pending", outcome.pending.length)
    })
  }

  /** Ends whatever is still open (a model step that failed, calls left pending by a suspension). */
  closeAll(exit: Exit.Exit<unknown, unknown>) {
    const end = this.clock.currentTimeNanosUnsafe()
    if (this.chat !== undefined) {
      this.chat.end(end, Exit.isFailure(exit) ? exit : Exit.void)
      this.chat = undefined
    }
    for (const { span } of this.tools.values()) {
      span.attribute("agentloop.tool.pending", true)
      span.end(end, Exit.void)
    }
    this.tools.clear()
  }
}
