/**
 * The AG-UI 1.0 binding: a `RunAgentInput` in, AG-UI events out (SSE `data:` lines), so AG-UI front ends
 * (CopilotKit and the like, through `@ag-ui/client`) can run an agentloop agent and answer its approvals.
 *
 * Approvals use AG-UI's interrupt mechanism: a run that suspends ends with `RUN_FINISHED` whose outcome is
 * `{ type: "interrupt", interrupts }`, one interrupt per pending approval (`id` = the approval id, `toolCallId`,
 * `expiresAt`, the redacted arguments, the risk and the agent path in `metadata`, and a `responseSchema`
 * asking for `{ approved, reason }`). The front end answers on its next run with `resume` entries: `resolved`
 * with `{ approved, reason }` decides the approval, `cancelled` denies it. As on the HTTP API, the approver
 * recorded is the authenticated identity.
 *
 * `toEvents` (the mapping, pure) keeps per-run state: the open text message of the current step.
 *
 * @since 0.1.0
 */
import type { AgentEvent } from "@agentloop/core"
import type { AgUiSchema } from "effect/ai"
import type { PendingView } from "./Model.js"

type Event = AgUiSchema.Event

/** What an interrupt asks the front end to send back when it resolves it. */
export const responseSchema = {
  type: "object",
  properties: { approved: { type: "boolean" }, reason: { type: "string" } },
  required: ["approved"]
} as const

export const interruptOf = (pending: PendingView): AgUiSchema.Interrupt => ({
  id: pending.approvalId,
  reason: "tool_approval",
  message: `Approve ${pending.toolName}? (${pending.risk})`,
  toolCallId: pending.toolCallId,
  responseSchema: responseSchema as unknown as Record<string, unknown>,
  ...(pending.expiresAt === undefined ? {} : { expiresAt: new Date(pending.expiresAt).toISOString() }),
  metadata: { runId: pending.runId, toolName: pending.toolName, risk: pending.risk, agentPath: pending.agentPath, arguments: pending.arguments }
})

/** The state of one run's translation. */
export interface Translation {
  readonly threadId: string
  readonly runId: string
  message: string | undefined
}

export const translation = (threadId: string, runId: string): Translation => ({ threadId, runId, message: undefined })

const closeText = (t: Translation): Array<Event> => {
  if (t.message === undefined) return []
  const messageId = t.message
  t.message = undefined
  return [{ type: "TEXT_MESSAGE_END", messageId }]
}

/**
 * The AG-UI events for one (redacted) agentloop event. `pending` gives the approvals of a suspension as the
 * server shows them (risk, agent path). `RUN_STARTED` is left to the lifecycle wrapper (`AgUi.withRunLifecycle`).
 */
export const toEvents = (t: Translation, event: AgentEvent.AgentEvent, pending: ReadonlyArray<PendingView>): ReadonlyArray<Event> => {
  switch (event._tag) {
    case "StepStarted":
      return [{ type: "STEP_STARTED", stepName: `step-${event.step}` }]
    case "TextDelta": {
      if (event.delta === "") return []
      const start: Array<Event> = []
      if (t.message === undefined) {
        t.message = `${event.runId}-step-${event.step}-text`
        start.push({ type: "TEXT_MESSAGE_START", messageId: t.message, role: "assistant" })
      }
      return [...start, { type: "TEXT_MESSAGE_CONTENT", messageId: t.message, delta: event.delta }]
    }
    case "ToolCalled":
      return [
        ...closeText(t),
        { type: "TOOL_CALL_START", toolCallId: event.toolCallId, toolCallName: event.toolName },
        { type: "TOOL_CALL_ARGS", toolCallId: event.toolCallId, delta: JSON.stringify(event.arguments) },
        { type: "TOOL_CALL_END", toolCallId: event.toolCallId }
      ]
    case "ToolResult":
      return [{ type: "TOOL_CALL_RESULT", messageId: `${event.runId}-result-${event.toolCallId}`, toolCallId: event.toolCallId, content: event.content, role: "tool" }]
    case "ApprovalDecided":
      return [{ type: "CUSTOM", name: "agentloop.approval_decided", value: event }]
    case "HandedOff":
    case "SubAgentEvent":
      return [{ type: "CUSTOM", name: `agentloop.${event._tag === "HandedOff" ? "handed_off" : "sub_agent_event"}`, value: event }]
    case "StepFinished":
      return [...closeText(t), { type: "STEP_FINISHED", stepName: `step-${event.step}` }]
    case "RunFinished": {
      const outcome = event.outcome
      const base = { type: "RUN_FINISHED", threadId: t.threadId, runId: t.runId } as const
      if (outcome._tag === "Suspended" && pending.length > 0) {
        const [first, ...rest] = pending.map(interruptOf)
        return [...closeText(t), { ...base, outcome: { type: "interrupt", interrupts: [first!, ...rest] } }]
      }
      return [...closeText(t), { ...base, outcome: { type: "success" }, result: outcome }]
    }
    default:
      return []
  }
}

/** A resume entry as a decision: `resolved` with `{ approved, reason }`, or `cancelled` (a denial). */
export const decisionOf = (entry: AgUiSchema.ResumeEntry): { readonly approved: boolean; readonly reason?: string } => {
  if (entry.status === "cancelled") return { approved: false, reason: "Cancelled from the AG-UI front end" }
  const payload = (typeof entry.payload === "object" && entry.payload !== null ? entry.payload : {}) as { approved?: unknown; reason?: unknown }
  return { approved: payload.approved === true, ...(typeof payload.reason === "string" ? { reason: payload.reason } : {}) }
}

/** The user's latest message in the conversation (what a new agentloop run is started with). */
export const promptOf = (input: AgUiSchema.RunAgentInput): string | undefined => {
  for (let i = input.messages.length - 1; i >= 0; i--) {
    const message = input.messages[i]!
    if (message.role !== "user") continue
    return typeof message.content === "string"
      ? message.content
      : message.content.flatMap((part) => (part.type === "text" ? [part.text] : [])).join("\n")
  }
  return undefined
}
