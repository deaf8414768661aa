/**
 * How a run's events are shown to people: redacted exactly as audit entries are (tool arguments through
 * `Redaction.args`, every other string through `Redaction.deep`), and read into audit entries and the agent
 * path of each approval. Pure code.
 *
 * @since 0.1.0
 */
import { type AgentEvent, Redaction } from "@agentloop/core"
import type { AuditEntry } from "./Model.js"

/** The event with every secret scrubbed. Sub-agents' events are scrubbed the same way, at every depth. */
export const redact = (event: AgentEvent.AgentEvent, secrets: Redaction.Known = Redaction.none): AgentEvent.AgentEvent => {
  switch (event._tag) {
    case "SubAgentEvent":
      return { ...(Redaction.deep({ ...event, event: undefined }, secrets) as object), event: redact(event.event, secrets) } as AgentEvent.AgentEvent
    case "ToolCalled":
    case "ApprovalDecided":
      return { ...(Redaction.deep({ ...event, arguments: undefined }, secrets) as object), arguments: Redaction.args(event.arguments, secrets) } as AgentEvent.AgentEvent
    case "ApprovalRequested":
      return {
        ...event,
        approval: { ...(Redaction.deep({ ...event.approval }, secrets) as object), arguments: Redaction.args(event.approval.arguments, secrets) }
      } as AgentEvent.AgentEvent
    default:
      return Redaction.deep(event, secrets) as AgentEvent.AgentEvent
  }
}

/** Any other value shown to people (an outcome, an error's fields), scrubbed the same way. */
export const redactValue = (value: unknown, secrets: Redaction.Known = Redaction.none): unknown => Redaction.deep(value, secrets)

/** The agents from the run's own (`root`) down to the one that emitted the event. */
export const agentPath = (root: string, event: AgentEvent.AgentEvent): ReadonlyArray<string> =>
  event._tag === "SubAgentEvent" ? [root, ...event.path.map((hop) => hop.agent)] : [root]

const clip = (text: string, max = 500): string => (text.length > max ? `${text.slice(0, max)}…` : text)

/** The audit entry an (already redacted) event makes, if any: calls, approvals, decisions, results, start and end. */
export const auditEntry = (root: string, event: AgentEvent.AgentEvent, eventId: number, at: number): AuditEntry | undefined => {
  const { event: own } = event._tag === "SubAgentEvent" ? { event: innermost(event) } : { event }
  const base = { at, eventId, agentPath: agentPath(root, event) }
  switch (own._tag) {
    case "RunStarted":
      return { ...base, kind: "run_started", detail: own.resumed ? "resumed" : "started" }
    case "ToolCalled":
      return { ...base, kind: "tool_called", tool: own.toolName, toolCallId: own.toolCallId, arguments: own.arguments }
    case "ApprovalRequested":
      return {
        ...base,
        kind: "approval_requested",
        tool: own.approval.toolName,
        toolCallId: own.approval.toolCallId,
        arguments: own.approval.arguments
      }
    case "ApprovalDecided":
      return {
        ...base,
        kind: "approval_decided",
        tool: own.toolName,
        toolCallId: own.toolCallId,
        arguments: own.arguments,
        approved: own.approved,
        ...(own.decidedBy === undefined ? {} : { by: own.decidedBy }),
        ...(own.reason === undefined ? {} : { reason: own.reason })
      }
    case "ToolResult":
      return {
        ...base,
        kind: "tool_result",
        tool: own.toolName,
        toolCallId: own.toolCallId,
        detail: `${own.isError ? `error (${own.errorKind ?? "error"})` : "ok"}: ${clip(own.content)}`
      }
    case "RunFinished": {
      const o = own.outcome
      const detail =
        o._tag === "Completed" ? `completed (${o.reason}): ${clip(o.text)}` : o._tag === "Suspended" ? `suspended: ${o.pending.length} approval(s) pending` : `stopped (${o.reason}): ${o.detail}`
      return { ...base, kind: "run_finished", detail }
    }
    default:
      return undefined
  }
}

const innermost = (event: AgentEvent.SubAgentEvent): AgentEvent.RunEvent => event.event
