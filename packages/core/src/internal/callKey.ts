/**
 * Keys derived from one tool call of a run: its handler's idempotency key and a sub-agent's run id.
 *
 * Some providers number tool calls per response, so `call_0` comes back on every step: a key made of the run
 * and the call id alone would give two calls the same key. A call id's first use in a run keeps the plain form
 * (`<runId>:<id>`, `<runId>.<id>`), as stored before step-qualified keys existed, so runs persisted then find
 * the same keys; a repeated use carries its step (`<runId>:<step>:<id>`, `<runId>.<step>.<id>`).
 *
 * Whether a call repeats an id is read from the run's messages (persisted with the run), so it is the same after
 * a suspend, a restart or a replay: an id is repeated when a tool call of an assistant message before the
 * current step's (the last one) has it, or when a handoff's filter dropped such a call from the messages (its
 * ids are stored with the run: `RunState.handedOffCallIds`). At step 1 an id is never repeated (nothing is
 * looked at), so keys of first steps never change.
 */
import type { Message } from "../Message.js"

/** The tool-call ids of a run's messages up to `scanned` (a message index): built on first need, then extended. */
export interface SeenIds {
  readonly ids: Set<string>
  /** The ids a handoff dropped from the messages (in `ids` too). */
  readonly dropped: ReadonlySet<string>
  scanned: number
}

/** A fresh cache: the ids a handoff dropped from the messages, and the messages still to scan. */
export const seenIds = (dropped: ReadonlyArray<string> | undefined): SeenIds => ({ ids: new Set(dropped), dropped: new Set(dropped), scanned: 0 })

/** Adds the ids of the tool calls in the assistant messages of `messages[from, to)` to `ids`. */
const addCallIds = (ids: Set<string>, messages: ReadonlyArray<Message>, from = 0, to = messages.length): Set<string> => {
  for (let i = from; i < to; i++) {
    const message = messages[i]!
    if (message._tag === "AssistantMessage") for (const call of message.toolCalls) ids.add(call.id)
  }
  return ids
}

/**
 * A handoff rewrote the history from `before` to `after`: the ids dropped so far (`prior`) and the ids of
 * `before` that `after` no longer shows (undefined: none), kept with the run so they still count as used.
 */
export const droppedBy = (
  before: ReadonlyArray<Message>,
  after: ReadonlyArray<Message>,
  prior: ReadonlyArray<string> | undefined
): ReadonlyArray<string> | undefined => {
  const kept = addCallIds(new Set(), after)
  const dropped = new Set(prior)
  for (const id of addCallIds(new Set(), before)) if (!kept.has(id)) dropped.add(id)
  return dropped.size === 0 ? undefined : [...dropped]
}

/**
 * The step that qualifies call `id` of `step` (undefined: its first use, the plain form). `messages`, up to
 * `length`, end with the current step's assistant message (and the results recorded since); `seen` is the run's
 * cache, extended here by the messages added since the last call, so a run scans its history once in all.
 */
export const repeatedAt = (seen: SeenIds, messages: ReadonlyArray<Message>, length: number, step: number, id: string): number | undefined => {
  let end = length - 1
  while (end >= 0 && messages[end]!._tag !== "AssistantMessage") end--
  if (seen.scanned > end) {
    // Asked late (the cache already holds later steps' ids): read this step's history itself, so a key read
    // after later steps is the one it would have been during its call.
    return addCallIds(new Set(seen.dropped), messages, 0, end).has(id) ? step : undefined
  }
  if (end > seen.scanned) {
    addCallIds(seen.ids, messages, seen.scanned, end)
    seen.scanned = end
  }
  return seen.ids.has(id) ? step : undefined
}

/** A handler's idempotency key: `<runId>:<toolCallId>`, or `<runId>:<step>:<toolCallId>` for a repeated id. */
export const idempotencyKey = (runId: string, toolCallId: string, repeatedStep: number | undefined): string =>
  repeatedStep === undefined ? `${runId}:${toolCallId}` : `${runId}:${repeatedStep}:${toolCallId}`

/**
 * A sub-agent's run id: `<parentRunId>.<toolCallId>`, or `<parentRunId>.<step>.<toolCallId>` for a repeated id
 * (characters a store may refuse become `_`).
 */
export const childRunId = (parentRunId: string, toolCallId: string, repeatedStep: number | undefined): string => {
  const id = toolCallId.replace(/[^A-Za-z0-9_-]/g, "_")
  return repeatedStep === undefined ? `${parentRunId}.${id}` : `${parentRunId}.${repeatedStep}.${id}`
}
