/**
 * An audit log of every Heroku tool call: which tool, on which app, the decision (allowed, approved by
 * whom, denied by the grant or by a human), and the outcome.
 *
 * @since 0.1.0
 */
import { AgentEvent } from "@agentloop/core"
import { Context, Effect, Layer } from "effect"
import { byTool } from "./Operations.js"

export interface Entry {
  readonly at: string
  readonly tool: string
  readonly toolCallId: string
  readonly app: string | undefined
  readonly decision: "allowed" | "approved" | "denied"
  /** Who approved or denied (absent for plain allowed calls). */
  readonly by: string | undefined
  readonly reason: string | undefined
  readonly outcome: "success" | "error" | "not_run"
  readonly error: string | undefined
  readonly requestId: string | undefined
}

export interface Service {
  readonly record: (entry: Entry) => Effect.Effect<void>
  readonly entries: Effect.Effect<ReadonlyArray<Entry>>
}

export class AuditLog extends Context.Tag("@agentloop/heroku-platform/AuditLog")<AuditLog, Service>() {}

/**
 * An audit log that sends each entry to `sink` (a database, a log line) and keeps the entries in memory.
 * It also provides an `EventObserver`, so calls denied by a human (which never reach a handler) are recorded.
 */
export const layer = (sink: (entry: Entry) => Effect.Effect<void> = () => Effect.void) =>
  Layer.effectContext(
    Effect.sync(() => {
      const entries: Array<Entry> = []
      const record = (entry: Entry) => Effect.suspend(() => (entries.push(entry), sink(entry)))
      const observe = (event: AgentEvent.AgentEvent) => {
        if (event._tag !== "ApprovalDecided" || event.approved || !byTool.has(event.toolName)) return
        const args = (event.arguments ?? {}) as Record<string, unknown>
        const entry: Entry = {
          at: new Date().toISOString(),
          tool: event.toolName,
          toolCallId: event.toolCallId,
          app: typeof args["app"] === "string" ? args["app"] : undefined,
          decision: "denied",
          by: event.decidedBy,
          reason: event.reason,
          outcome: "not_run",
          error: undefined,
          requestId: undefined
        }
        entries.push(entry)
        Effect.runFork(sink(entry))
      }
      return Context.make(AuditLog, { record, entries: Effect.sync(() => [...entries]) }).pipe(
        Context.add(AgentEvent.EventObserver, { observe })
      )
    })
  )

/** An in-memory audit log (tests, demos). */
export const layerMemory = layer()

/** One line per entry, for logs and demos. */
export const format = (entry: Entry): string =>
  `${entry.tool}${entry.app === undefined ? "" : ` on ${entry.app}`}: ${entry.decision}` +
  `${entry.by === undefined ? "" : ` by ${entry.by}`}${entry.reason === undefined ? "" : ` (${entry.reason})`} -> ${entry.outcome}` +
  `${entry.error === undefined ? "" : `: ${entry.error}`}`
