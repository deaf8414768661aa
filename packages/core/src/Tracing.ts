/**
 * Opt-in tracing and metrics for runs, through Effect's tracer and metrics, following the OpenTelemetry
 * GenAI semantic conventions: a span per run (`invoke_agent`), per model step (`chat`) and per tool call
 * (`execute_tool`), approval decisions as span events; counters for tokens and tool calls and a histogram
 * of tool durations. Provide `Tracing.layer` where the backend's layer is built, together with any Effect
 * tracer (e.g. `@effect/opentelemetry`'s `NodeSdk.layer`, which turns the spans into OpenTelemetry spans).
 *
 * Attribute names are the ones effect/ai's `Telemetry` and `Toolkit` use (`gen_ai.operation.name`,
 * `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.usage.input_tokens` / `output_tokens`,
 * `gen_ai.response.finish_reasons` as an array, `gen_ai.tool.name`, `gen_ai.tool.call.id`,
 * `gen_ai.tool.call.arguments`), so a trace reads the same whichever module emitted a span (docs/effect-ai.md).
 *
 * The run's `invoke_agent` span is the current span for everything the run does: its `chat` and
 * `execute_tool` spans are its children, spans the model opens (an HTTP client's, effect/ai's) nest under the
 * step's `chat` span, spans a tool handler opens (`Effect.withSpan` inside it) and a sub-agent's whole run nest
 * under the call's `execute_tool` span. With a handoff the run keeps one `invoke_agent` span (named for the
 * run's own agent); each `chat` and `execute_tool` span names the agent speaking (`gen_ai.agent.name`) and the
 * handoff is an `agent.handoff` event.
 *
 * No approval id and no error text leave the process through a span: approval events carry whether and by whom
 * a call was decided; a failed run, step or call ends its span with `error.type` (the error's tag) and a status
 * naming only that tag (a provider's error page or an `ApprovalExpired` message may hold secrets or ids).
 *
 * Without the layer the loop pays nothing: `Loop.makeRunner` looks for it once, when the runner is built.
 * Prompt, answer and tool contents are recorded only with `recordContent: true`.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Effect, Exit, Layer, Metric, Option, Stream, Tracer } from "effect"
import type { AgentEvent } from "./AgentEvent.js"
import type { ModelRequest, Service as ModelService } from "./LanguageModel.js"
import type { RunOutcome } from "./RunState.js"
import type * as Tool from "./Tool.js"
import { layerConstructor } from "./internal/layerConstructor.js"

export interface Config {
  /** Record tool arguments and results, model output text and approval reasons (default false: they may hold secrets). */
  readonly recordContent: boolean
  /** `gen_ai.request.model` on `chat` spans (the loop does not know which model a `LanguageModel` serves). */
  readonly model?: string
  /**
   * `gen_ai.provider.name` on `invoke_agent` and `chat` spans (the conventions require it): the model's provider,
   * e.g. `openai`, `anthropic`, `heroku`. Default `unknown`.
   */
  readonly provider?: string
}

export class Tracing extends Context.Service<Tracing, Config>()("@agentloop/core/Tracing") {}

/**
 * Turns tracing on for runners built where this layer is provided. A layer and its constructor:
 * `Tracing.layer` (defaults) or `Tracing.layer({ recordContent: true })`.
 */
export const layer: Layer.Layer<Tracing> & ((options?: Partial<Config>) => Layer.Layer<Tracing>) = layerConstructor(
  (options: Partial<Config> = {}) =>
    Layer.succeed(Tracing, { recordContent: options.recordContent ?? false, ...(options.model === undefined ? {} : { model: options.model }), ...(options.provider === undefined ? {} : { provider: options.provider }) })
)

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

/** The provider named on spans when the layer was given none. */
const unknownProvider = "unknown"

/** The innermost traced run of a fiber: where its model calls and tool handlers find their parent span. */
const CurrentRun = Context.Reference<SpanRecorder | undefined>("@agentloop/core/Tracing/CurrentRun", { defaultValue: () => undefined })

/**
 * Wraps a runner operation (`run` or `resume`) in an `invoke_agent` span, current for everything the operation
 * does, whose `chat` and `execute_tool` children are made from the run's events as they happen.
 */
export const traced =
  <Args extends ReadonlyArray<unknown>, E>(
    config: Config,
    agent: string,
    operation: (options: RunOptions, ...args: Args) => Effect.Effect<RunOutcome, E>
  ) =>
  (options: RunOptions, ...args: Args): Effect.Effect<RunOutcome, E> => {
    const runId = runIdOf(args)
    // Uninterruptible between making the span and arming its end: an interrupted run's span still ends.
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        Effect.makeSpan(`invoke_agent ${agent}`, {
          kind: "internal",
          attributes: {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agent,
            "gen_ai.provider.name": config.provider ?? unknownProvider,
            ...(config.model === undefined ? {} : { "gen_ai.request.model": config.model }),
            // Known up front for a resume or a run given its id, so even a run refused before it starts names it.
            ...(runId === undefined ? {} : { "gen_ai.conversation.id": runId })
          }
        }),
        (span) =>
          Effect.withFiber((fiber) => {
            const recorder = new SpanRecorder(config, agent, fiber.getRef(Tracer.Tracer), fiber.getRef(Clock.Clock), fiber.context, span)
            const user = options?.onEvent
            const onEvent = user === undefined ? recorder.observe : (event: AgentEvent) => (user(event), recorder.observe(event))
            return restore(Effect.tap(operation({ onEvent }, ...args), (outcome) => recorder.outcome(outcome))).pipe(
              Effect.onExit((exit) => Effect.sync(() => recorder.closeAll(exit))),
              Effect.withParentSpan(span),
              Effect.provideService(CurrentRun, recorder)
            )
          })
      )
    )
  }

/** The run id a runner operation's arguments name: a resume's `runId`, or a run's `RunInput.runId`. */
const runIdOf = (args: ReadonlyArray<unknown>): string | undefined => {
  const first = args[0]
  if (typeof first === "string") return first
  const given = typeof first === "object" && first !== null ? (first as { readonly runId?: unknown }).runId : undefined
  return typeof given === "string" ? given : undefined
}

/** The run's recorder and the span a call made now nests under, when the fiber is in a traced run. */
const currentRun = <A, E, R>(f: (run: SpanRecorder | undefined) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => f(fiber.getRef(CurrentRun)))

/**
 * A resolved toolkit's handler, traced: it runs with its call's `execute_tool` span as the current span, so the
 * spans it opens (and a sub-agent's run) nest under it. Applied by `Toolkit.resolve` when this layer is present.
 */
export const nestHandler =
  (handler: Tool.AnyHandlerFn): Tool.AnyHandlerFn =>
  (args, context) =>
    currentRun((run) => {
      const span = run?.toolSpanOf(context.toolCallId)
      const effect = handler(args, context)
      return span === undefined ? effect : Effect.withParentSpan(effect, span)
    })

/**
 * The model as a traced run calls it: each step runs with its `chat` span as the current span (so the model's own
 * spans nest under it), which also records what only the request tells (`gen_ai.output.type` when it asks for a
 * JSON answer, `gen_ai.request.stream` when streamed). Without the layer the model is returned as it is.
 */
export const nestModel = (model: ModelService, tracing: Option.Option<Config>): ModelService => {
  if (Option.isNone(tracing)) return model
  const inChat = <A, E, R>(request: ModelRequest, stream: boolean, effect: Effect.Effect<A, E, R>) =>
    currentRun((run) => {
      const chat = run?.chatFor(request, stream)
      return chat === undefined ? effect : Effect.withParentSpan(effect, chat)
    })
  const { pushStep } = model
  return {
    ...model,
    streamStep: (request) =>
      Stream.unwrap(
        currentRun((run) => {
          const chat = run?.chatFor(request, true)
          const stream = model.streamStep(request)
          return Effect.succeed(chat === undefined ? stream : Stream.provideService(stream, Tracer.ParentSpan, chat))
        })
      ),
    ...(pushStep === undefined ? {} : { pushStep: (request: ModelRequest, emit: Parameters<typeof pushStep>[1]) => inChat(request, true, pushStep(request, emit)) })
  }
}

const toolType = { "gen_ai.tool.type": "function" } as const

/** What a span of a failed run, step or call says about the failure: its tag, never its message. */
const errorType = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error)) {
    const value = error.value
    return typeof value === "object" && value !== null && typeof (value as { _tag?: unknown })._tag === "string" ? (value as { _tag: string })._tag : "_OTHER"
  }
  return Cause.hasDies(cause) ? "Defect" : "_OTHER"
}

/** Ends `span` with `exit`, a failure replaced by its `error.type` alone (see the module docs). */
const endSanitized = (span: Tracer.Span, end: bigint, exit: Exit.Exit<unknown, unknown>) => {
  if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return span.end(end, exit)
  const type = errorType(exit.cause)
  span.attribute("error.type", type)
  span.end(end, Exit.fail(type))
}

/** Builds the child spans of one run from its events (synchronously: events are emitted in order). */
class SpanRecorder {
  private chat: Tracer.Span | undefined
  private chatStep = 0
  private usageSeen = false
  /** The agent speaking (it changes with a handoff), named on each `execute_tool` span. */
  private speaking: string
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
  ) {
    this.speaking = agent
  }

  /** The open `execute_tool` span of a call, if any (see `nestHandler`). */
  toolSpanOf(toolCallId: string): Tracer.Span | undefined {
    return this.tools.get(toolCallId)?.span
  }

  /** The open `chat` span, with what the request tells recorded on it (see `nestModel`). */
  chatFor(request: ModelRequest, stream: boolean): Tracer.Span | undefined {
    const chat = this.chat
    if (chat === undefined) return undefined
    if (request.responseFormat !== undefined) chat.attribute("gen_ai.output.type", "json")
    if (stream) chat.attribute("gen_ai.request.stream", true)
    return chat
  }

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
        "gen_ai.agent.name": this.speaking,
        "gen_ai.conversation.id": runId,
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
        this.speaking = event.agent
        this.chat = this.child(`chat${this.config.model === undefined ? "" : ` ${this.config.model}`}`, "client", {
          "gen_ai.operation.name": "chat",
          ...(this.config.model === undefined ? {} : { "gen_ai.request.model": this.config.model }),
          "gen_ai.provider.name": this.config.provider ?? unknownProvider,
          "gen_ai.conversation.id": event.runId,
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
        // Not the approval id: it is the unguessable part of a decision (see `Approval`), and must not leave the process.
        span.event("approval.requested", now(), {
          ...(event.approval.expiresAt === undefined ? {} : { "agentloop.approval.expires_at": new Date(event.approval.expiresAt).toISOString() })
        })
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

  /**
   * Ends whatever is still open (a model step that failed, calls left pending by a suspension), then the run's
   * span: a failure as its `error.type` only.
   */
  closeAll(exit: Exit.Exit<unknown, unknown>) {
    const end = this.clock.currentTimeNanosUnsafe()
    if (this.chat !== undefined) {
      endSanitized(this.chat, end, Exit.isFailure(exit) ? exit : Exit.void)
      this.chat = undefined
    }
    for (const { span } of this.tools.values()) {
      span.attribute("agentloop.tool.pending", true)
      span.end(end, Exit.void)
    }
    this.tools.clear()
    endSanitized(this.run, end, exit)
  }
}
