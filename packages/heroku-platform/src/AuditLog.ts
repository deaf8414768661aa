/**
 * The audit log of every Heroku tool call: who (run, agent, tool call), what (tool, canonical app, redacted
 * arguments), the decision (allowed, approved by whom, auto-approved, refused, denied) and the outcome.
 *
 * A call that runs writes an `intent` entry before the request and an `outcome` entry after it (success,
 * error, or interrupted); a call that does not run writes one `refusal` entry. Entries go to a `Sink`; the
 * durable sinks (`layerJsonl`, `layerSql`) fail closed: when the intent entry cannot be written the handler
 * refuses the call, so nothing happens on Heroku that the log does not know about.
 *
 * @since 0.1.0
 */
import { AgentEvent } from "@agentloop/core"
import { layerConstructor } from "@agentloop/core/internal/layerConstructor"
import { open } from "node:fs/promises"
import { Context, Effect, Fiber, Layer, Result, Schema, Semaphore } from "effect"
import { SqlClient } from "effect/sql"
import { byTool } from "./Operations.js"
import * as Redaction from "./Redaction.js"

export const Entry = Schema.Struct({
  at: Schema.String,
  /** `intent` before the request, `outcome` after it; `refusal` for a call that never ran. */
  kind: Schema.Literals(["intent", "outcome", "refusal"]),
  runId: Schema.String,
  /** The grant's agent; absent for entries recorded from run events (human denials, invalid arguments). */
  agent: Schema.optional(Schema.String),
  tool: Schema.String,
  toolCallId: Schema.String,
  /** The app as Heroku knows it (resolved name or id), or as given when the grant did not need to resolve it. */
  app: Schema.optional(Schema.String),
  /** Heroku's id for the app, when the handler resolved it (grants with an `apps` list). */
  appId: Schema.optional(Schema.String),
  /** The arguments, with secrets and config values redacted. */
  arguments: Schema.Unknown,
  decision: Schema.Literals(["allowed", "approved", "auto_approved", "refused", "denied"]),
  /** Who approved or denied (`grant`, `handler` for the handlers' own checks, or the human/policy). */
  by: Schema.optional(Schema.String),
  reason: Schema.optional(Schema.String),
  outcome: Schema.Literals(["pending", "success", "error", "not_run", "interrupted"]),
  error: Schema.optional(Schema.String),
  requestId: Schema.optional(Schema.String)
})
export type Entry = typeof Entry.Type

/** The sink could not write an entry (disk full, database down). */
export class AuditWriteFailed extends Schema.TaggedError<AuditWriteFailed>()("AuditWriteFailed", {
  sink: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `The audit log (${this.sink}) could not record the entry: ${this.reason}`
  }
}

/** Where entries go. Must not return before the entry is durable if it claims to be durable. */
export type Sink = (entry: Entry) => Effect.Effect<void, AuditWriteFailed>

/** A call refused before any handler ran (an unknown tool, arguments that do not decode, a human's denial). */
export interface Refusal {
  readonly runId: string
  readonly tool: string
  readonly toolCallId: string
  /** The arguments as given: made plain, config values hidden and secrets scrubbed before they are written. */
  readonly arguments?: unknown
  /** Who refused: `toolkit`, `schema`, the MCP server, the human. */
  readonly by?: string | undefined
  readonly reason?: string | undefined
  /** `refused` by a rule or check (default), `denied` by a human or policy. */
  readonly decision?: "refused" | "denied"
  readonly agent?: string
}

export interface Service {
  readonly record: (entry: Entry) => Effect.Effect<void, AuditWriteFailed>
  /**
   * Records a refusal entry (`refusal(fields)`). Never fails: the call did not run either way, so a sink
   * failure is logged instead. For callers that refuse calls the handlers never see (an MCP server's
   * unknown tools and invalid arguments); the loop's are recorded from its events.
   */
  readonly refuse: (refusal: Refusal) => Effect.Effect<void>
  /**
   * The most recent entries recorded through this layer (up to 10,000), in order; the sink holds the durable
   * copy. Includes the refusals the event observer saw before the read (it writes them on fibers of its own).
   */
  readonly entries: Effect.Effect<ReadonlyArray<Entry>>
}

export class AuditLog extends Context.Service<AuditLog, Service>()("@agentloop/heroku-platform/AuditLog") {}

const MEMORY_LIMIT = 10_000

/** What an entry must contain before it is written: the caller never passes a raw secret by mistake. */
const scrubbed = (entry: Entry): Entry => ({
  ...entry,
  arguments: Redaction.deep(entry.arguments),
  ...(entry.error === undefined ? {} : { error: Redaction.text(entry.error) }),
  ...(entry.reason === undefined ? {} : { reason: Redaction.text(entry.reason) })
})

/** See `Redaction.plain` (re-exported here, where the audit's callers found it). */
export const plain = Redaction.plain

/** Arguments as the audit shows them: made plain, values of config vars, env and add-on config hidden, then scrubbed. */
export const redactArguments = (args: unknown, secrets: Redaction.Known = Redaction.none): unknown => Redaction.args(args, secrets)

/** The refusal entry for a call that never reached a handler (see `Service.refuse`). */
export const refusal = (fields: Refusal): Entry => {
  const args = redactArguments(fields.arguments) as Record<string, unknown>
  return {
    at: new Date().toISOString(),
    kind: "refusal",
    runId: fields.runId,
    ...(fields.agent === undefined ? {} : { agent: fields.agent }),
    tool: fields.tool,
    toolCallId: fields.toolCallId,
    ...(typeof args["app"] === "string" ? { app: args["app"] } : {}),
    arguments: args,
    decision: fields.decision ?? "refused",
    ...(fields.by === undefined ? {} : { by: fields.by }),
    ...(fields.reason === undefined ? {} : { reason: fields.reason }),
    outcome: "not_run"
  }
}

/** Tools the audit speaks for: the operations, and any other name in their namespace (a model guessing one). */
const isHerokuTool = (name: string) => byTool.has(name) || name.startsWith("heroku_")

/**
 * An audit log that writes each entry to `sink` and keeps the entries in memory. The sink's failure is the
 * record's failure (callers decide: the handlers fail closed before a call). It also provides an
 * `EventObserver`, so calls that never reach a handler are recorded: those denied by a human and those whose
 * arguments did not decode. A layer and its constructor: `AuditLog.layer` (no sink: memory only) or
 * `AuditLog.layer(sink)`.
 */
export const layer: Layer.Layer<AuditLog | AgentEvent.EventObserver> & ((sink?: Sink) => Layer.Layer<AuditLog | AgentEvent.EventObserver>) = layerConstructor((sink: Sink = () => Effect.void) =>
  Layer.effectContext(
    Effect.sync(() => {
      const entries: Array<Entry> = []
      const lock = Semaphore.makeUnsafe(1)
      const record = (entry: Entry) =>
        Effect.suspend(() => {
          const clean = scrubbed(entry)
          // Kept in memory only once the sink has it, so `entries` never shows what the durable copy lacks.
          return Effect.andThen(
            sink(clean),
            Effect.sync(() => {
              entries.push(clean)
              if (entries.length > MEMORY_LIMIT) entries.splice(0, entries.length - MEMORY_LIMIT)
            })
          )
        }).pipe(lock.withPermits(1))
      const calledWith = new Map<string, unknown>()
      // Observers cannot fail or wait; a sink failure here is logged (the call did not run either way).
      const recordObserved = (entry: Entry) => {
        const fiber = Effect.runFork(record(entry).pipe(Effect.catch((error) => Effect.logError(error.message))))
        pending.add(fiber)
        fiber.addObserver(() => pending.delete(fiber))
      }
      // Observer writes under way: `entries` waits for them, so a run's refusals are there once the run returns.
      const pending = new Set<Fiber.Fiber<void>>()
      const read = Effect.sync(() => [...entries])
      const refuse = (fields: Refusal) => record(refusal(fields)).pipe(Effect.catch((error) => Effect.logError(error.message)))
      const observe = (event: AgentEvent.AgentEvent) => {
        if (!("toolName" in event) || !isHerokuTool(event.toolName)) return
        const call = { runId: event.runId, tool: event.toolName, toolCallId: event.toolCallId }
        if (event._tag === "ToolCalled") {
          calledWith.set(event.toolCallId, event.arguments)
          if (calledWith.size > 1000) calledWith.delete(calledWith.keys().next().value!)
        } else if (event._tag === "ToolResult") {
          const args = calledWith.get(event.toolCallId)
          calledWith.delete(event.toolCallId)
          if (event.errorKind === "InvalidArguments") {
            // The Schema's message quotes the values; the entry keeps the redacted arguments instead.
            recordObserved(refusal({ ...call, arguments: args, by: "schema", reason: "the arguments do not match the tool's Schema" }))
          } else if (event.errorKind === "UnknownTool") {
            // Not in the agent's toolkit: its grant does not offer it (the loop reports no arguments for it).
            recordObserved(refusal({ ...call, arguments: args, by: "toolkit", reason: "the tool is not offered to this agent (its grant does not allow it)" }))
          }
        } else if (event._tag === "ApprovalDecided" && !event.approved) {
          recordObserved(
            refusal({ ...call, arguments: event.arguments, decision: "denied", by: event.decidedBy, reason: event.reason })
          )
        }
      }
      return Context.make(AuditLog, { record, refuse, entries: Effect.suspend(() => (pending.size === 0 ? read : Effect.andThen(Fiber.awaitAll([...pending]), read))) }).pipe(Context.add(AgentEvent.EventObserver, { observe }))
    })
  ))

/** An in-memory audit log (tests, demos). */
export const layerMemory = layer()

/**
 * An append-only JSONL file: one entry per line, `fsync`ed before `record` returns. The file is opened once
 * (created if missing) and closed with the layer's scope. Each entry starts on a line of its own: a file
 * that does not end with a newline (a crash tore its last write) and any append that failed part-way get
 * a newline first, so a torn line never swallows the next entry (readers skip it: `parseJsonl`).
 */
export const layerJsonl = (path: string) =>
  Layer.unwrap(
    Effect.map(
      Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            const handle = await open(path, "a+")
            const { size } = await handle.stat()
            let torn = false
            if (size > 0) {
              const last = Buffer.alloc(1)
              await handle.read(last, 0, 1, size - 1)
              torn = last[0] !== 0x0a
            }
            return { handle, torn }
          },
          catch: (error) => new AuditWriteFailed({ sink: path, reason: String(error) })
        }),
        ({ handle }) => Effect.promise(() => handle.close())
      ),
      (file) =>
        layer((entry) =>
          Effect.tryPromise({
            try: async () => {
              const line = `${JSON.stringify(Schema.encodeSync(Entry)(entry))}\n`
              const text = file.torn ? `\n${line}` : line
              // Until this append is known to be whole, the file may end in the middle of it.
              file.torn = true
              await file.handle.appendFile(text)
              await file.handle.sync()
              file.torn = false
            },
            catch: (error) => new AuditWriteFailed({ sink: path, reason: String(error) })
          })
        )
    )
  )

/** A line of a JSONL audit file that is not a whole entry (a write torn by a crash): its number and length only. */
export interface TornLine {
  readonly line: number
  readonly length: number
}

/** Reads a JSONL audit file back: the whole entries, and the lines that are not (skipped, never fatal). */
export const parseJsonl = (text: string): { readonly entries: ReadonlyArray<Entry>; readonly torn: ReadonlyArray<TornLine> } => {
  const entries: Array<Entry> = []
  const torn: Array<TornLine> = []
  const lines = text.split("\n")
  lines.forEach((line, index) => {
    if (line.trim().length === 0) return
    try {
      const decoded = decodeEntry(JSON.parse(line))
      if (Result.isSuccess(decoded)) return void entries.push(decoded.success)
    } catch {
      // Not JSON: a torn write.
    }
    torn.push({ line: index + 1, length: line.length })
  })
  return { entries, torn }
}

const decodeEntry = Schema.decodeUnknownResult(Entry)

/** The whole entries of a JSONL audit file, skipping torn lines (see `parseJsonl` to know about them). */
export const readJsonl = (text: string): ReadonlyArray<Entry> => parseJsonl(text).entries

/**
 * A SQL table through `effect/sql` (any dialect: SQLite, Postgres, ...). The table is created if missing;
 * each entry is one INSERT, committed before `record` returns. A layer and its constructor: `AuditLog.layerSql`
 * (table `heroku_audit`) or `AuditLog.layerSql({ table })`.
 */
export const layerSql: Layer.Layer<AuditLog | AgentEvent.EventObserver, AuditWriteFailed, SqlClient.SqlClient> & ((options?: { readonly table?: string }) => Layer.Layer<AuditLog | AgentEvent.EventObserver, AuditWriteFailed, SqlClient.SqlClient>) = layerConstructor((options: { readonly table?: string } = {}) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const table = sql(options.table ?? "heroku_audit")
      const fail = (error: unknown) => new AuditWriteFailed({ sink: "sql", reason: error instanceof Error ? error.message : String(error) })
      yield* sql`CREATE TABLE IF NOT EXISTS ${table} (
        at TEXT NOT NULL, kind TEXT NOT NULL, run_id TEXT NOT NULL, agent TEXT, tool TEXT NOT NULL,
        tool_call_id TEXT NOT NULL, app TEXT, decision TEXT NOT NULL, outcome TEXT NOT NULL, entry TEXT NOT NULL
      )`.pipe(Effect.mapError(fail))
      return layer((entry) =>
        sql`INSERT INTO ${table} ${sql.insert({
          at: entry.at,
          kind: entry.kind,
          run_id: entry.runId,
          agent: entry.agent ?? null,
          tool: entry.tool,
          tool_call_id: entry.toolCallId,
          app: entry.app ?? null,
          decision: entry.decision,
          outcome: entry.outcome,
          entry: JSON.stringify(Schema.encodeSync(Entry)(entry))
        })}`.pipe(Effect.asVoid, Effect.mapError(fail))
      )
    })
  ))

/** One line per entry, for logs and demos. */
export const format = (entry: Entry): string =>
  `[${entry.kind}] run ${entry.runId}${entry.agent === undefined ? "" : ` agent ${entry.agent}`} ${entry.tool}` +
  `${entry.app === undefined ? "" : ` on ${entry.app}`}: ${entry.decision}` +
  `${entry.by === undefined ? "" : ` by ${entry.by}`}${entry.reason === undefined ? "" : ` (${entry.reason})`} -> ${entry.outcome}` +
  `${entry.error === undefined ? "" : `: ${entry.error}`}`
