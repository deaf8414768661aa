/**
 * The unified event stream of a run, the same for every backend. Events are Schemas, so they can be
 * logged, sent over the wire or stored as they are.
 *
 * @since 0.1.0
 */
import { Context, Schema } from "effect"
import { PendingApproval } from "./Approval.js"
import { FinishReason, ToolChoice } from "./LanguageModel.js"
import { Usage } from "./Message.js"
import { RunOutcome } from "./RunState.js"

/** The fields that identify one tool call within a run. */
const callFields = {
  runId: Schema.String,
  step: Schema.Number,
  toolCallId: Schema.String,
  toolName: Schema.String
}

export const RunStarted = Schema.TaggedStruct("RunStarted", {
  runId: Schema.String,
  resumed: Schema.Boolean,
  /** The agent speaking as the run (re)starts: the run's own, or the one a handoff left it with. */
  agent: Schema.String
})

export const StepStarted = Schema.TaggedStruct("StepStarted", {
  runId: Schema.String,
  step: Schema.Number,
  /** The agent whose instructions, tools and rules this step runs with. */
  agent: Schema.String,
  /** The tools offered to the model in this step (after tool rules). */
  tools: Schema.Array(Schema.String),
  toolChoice: ToolChoice
})

export const TextDelta = Schema.TaggedStruct("TextDelta", {
  runId: Schema.String,
  step: Schema.Number,
  delta: Schema.String
})

export const ToolCalled = Schema.TaggedStruct("ToolCalled", {
  ...callFields,
  /** The arguments the tool runs with: the model's, merged with any rule prefill. */
  arguments: Schema.Unknown,
  prefilledBy: Schema.optional(Schema.String),
  /** The provider runs this call itself (a hosted agent's server-side tool). */
  remote: Schema.optional(Schema.Boolean)
})

export const ToolResult = Schema.TaggedStruct("ToolResult", {
  ...callFields,
  /** The text the model sees. */
  content: Schema.String,
  isError: Schema.Boolean,
  errorKind: Schema.optional(Schema.String),
  remote: Schema.optional(Schema.Boolean)
})

export const ApprovalRequested = Schema.TaggedStruct("ApprovalRequested", {
  runId: Schema.String,
  step: Schema.Number,
  approval: PendingApproval
})

export const ApprovalDecided = Schema.TaggedStruct("ApprovalDecided", {
  ...callFields,
  /** The arguments the decision was about. */
  arguments: Schema.Unknown,
  approved: Schema.Boolean,
  reason: Schema.optional(Schema.String),
  decidedBy: Schema.optional(Schema.String)
})

export const UsageReported = Schema.TaggedStruct("UsageReported", {
  runId: Schema.String,
  step: Schema.Number,
  usage: Usage
})

export const StepFinished = Schema.TaggedStruct("StepFinished", {
  runId: Schema.String,
  step: Schema.Number,
  finishReason: FinishReason
})

/** The conversation was transferred by a handoff call: `to` speaks from the next step on (see `Handoff`). */
export const HandedOff = Schema.TaggedStruct("HandedOff", {
  runId: Schema.String,
  step: Schema.Number,
  from: Schema.String,
  to: Schema.String,
  toolCallId: Schema.String,
  toolName: Schema.String
})

/** Something a provider sent that maps to no other event (an unknown stream line, a ping): kept as it came. */
export const Raw = Schema.TaggedStruct("Raw", {
  runId: Schema.String,
  step: Schema.Number,
  source: Schema.String,
  data: Schema.Unknown
})

export const RunFinished = Schema.TaggedStruct("RunFinished", {
  runId: Schema.String,
  outcome: RunOutcome
})

/** The events a run emits about itself (every event but `SubAgentEvent`). */
export const RunEvent = Schema.Union([
  RunStarted,
  StepStarted,
  TextDelta,
  ToolCalled,
  ToolResult,
  ApprovalRequested,
  ApprovalDecided,
  UsageReported,
  StepFinished,
  HandedOff,
  Raw,
  RunFinished
])
export type RunEvent = typeof RunEvent.Type

/** One hop from a run to a sub-agent it called: the sub-agent's name and the call (in its caller) running it. */
export const SubAgentHop = Schema.Struct({ agent: Schema.String, toolCallId: Schema.String })
export type SubAgentHop = typeof SubAgentHop.Type

/**
 * An event of a sub-agent's run (see `SubAgent`), forwarded into the events of the run that called it, as
 * it happens. `runId`, `step` and `toolCallId` are the calling run's (the call that runs the sub-agent);
 * `path` lists the hops from this run down to the agent that emitted `event` (outermost first, so a
 * sub-agent of a sub-agent has two), and `agent` is the last hop's agent. `event` is that agent's own
 * event, with its own run id. Forwarded only to a run's consumer (a stream, `onEvent`), never built when
 * nobody watches.
 */
export const SubAgentEvent = Schema.TaggedStruct("SubAgentEvent", {
  runId: Schema.String,
  step: Schema.Number,
  toolCallId: Schema.String,
  agent: Schema.String,
  path: Schema.Array(SubAgentHop),
  event: RunEvent
})
export type SubAgentEvent = typeof SubAgentEvent.Type

export const AgentEvent = Schema.Union([RunEvent, SubAgentEvent])
export type AgentEvent = typeof AgentEvent.Type

/**
 * Who an event comes from: the hops down to the agent that emitted it (empty for the run's own events),
 * and that agent's event. E.g. show `path.map((hop) => hop.agent).join(" > ")` beside `event`.
 */
export const origin = (event: AgentEvent): { readonly path: ReadonlyArray<SubAgentHop>; readonly event: RunEvent } =>
  event._tag === "SubAgentEvent" ? { path: event.path, event: event.event } : { path: [], event }

/**
 * The event as the calling run reports it: the call `toolCallId` of run `runId` (at `step`) runs `agent`,
 * which emitted `event` (its own, or one it forwards from a sub-agent of its own).
 */
export const forwarded = (
  caller: { readonly runId: string; readonly step: number; readonly toolCallId: string },
  agent: string,
  event: AgentEvent
): SubAgentEvent =>
  event._tag === "SubAgentEvent"
    ? { ...event, runId: caller.runId, step: caller.step, toolCallId: caller.toolCallId, path: [{ agent, toolCallId: caller.toolCallId }, ...event.path] }
    : { _tag: "SubAgentEvent", runId: caller.runId, step: caller.step, toolCallId: caller.toolCallId, agent, path: [{ agent, toolCallId: caller.toolCallId }], event }

/**
 * Optional: when provided, every event of every run is also handed to this observer, synchronously and in
 * order (audit logs, metrics, tracing), whether or not anyone consumes the run's stream.
 */
export class EventObserver extends Context.Service<
  EventObserver,
  { readonly observe: (event: AgentEvent) => void }
>()("@agentloop/core/EventObserver") {}

/** One line per event, for logs and demos; a sub-agent's event is prefixed with the agents it came through. */
export const format = (event: AgentEvent): string => {
  switch (event._tag) {
    case "SubAgentEvent":
      return `[${event.path.map((hop) => hop.agent).join(" > ")}] ${format(event.event).trimStart()}`
    case "RunStarted":
      return `run ${event.runId} ${event.resumed ? "resumed" : "started"} (agent ${event.agent})`
    case "StepStarted":
      return `step ${event.step} [${event.agent}]: tools [${event.tools.join(", ")}], tool choice ${typeof event.toolChoice === "string" ? event.toolChoice : event.toolChoice.function}`
    case "TextDelta":
      return `  text: ${JSON.stringify(event.delta)}`
    case "Raw":
      return `  raw ${event.source}: ${JSON.stringify(event.data)}`
    case "ToolCalled":
      return `  ${event.remote === true ? "remote " : ""}call ${event.toolName}(${JSON.stringify(event.arguments)})${event.prefilledBy === undefined ? "" : ` [prefilled by ${event.prefilledBy}]`}`
    case "ToolResult":
      return `  ${event.remote === true ? "remote " : ""}${event.isError ? `error (${event.errorKind ?? "error"})` : "result"} ${event.toolName}: ${event.content}`
    case "ApprovalRequested":
      return `  approval requested for ${event.approval.toolName} (${event.approval.toolCallId})`
    case "ApprovalDecided":
      return `  ${event.approved ? "approved" : "denied"} ${event.toolName}${event.decidedBy === undefined ? "" : ` by ${event.decidedBy}`}${event.reason === undefined ? "" : `: ${event.reason}`}`
    case "UsageReported":
      return `  usage: ${event.usage.inputTokens} in, ${event.usage.outputTokens} out`
    case "StepFinished":
      return `step ${event.step} finished (${event.finishReason})`
    case "HandedOff":
      return `handoff: ${event.from} -> ${event.to} (${event.toolName})`
    case "RunFinished": {
      const o = event.outcome
      return o._tag === "Completed"
        ? `run completed (${o.reason}) after ${o.steps} steps: ${o.text}`
        : o._tag === "Suspended"
          ? `run suspended: ${o.pending.length} approval(s) pending`
          : `run stopped (${o.reason}): ${o.detail}`
    }
  }
}
