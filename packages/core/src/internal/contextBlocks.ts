/**
 * The units a context policy keeps or drops, and which of them every request must carry. Pure.
 *
 * A block is a system message, a user message (a turn or a loop re-prompt), or an assistant message with the
 * tool results and approval answers that follow it, so a tool call is never separated from its result.
 * Pinned (kept by every built-in policy, whatever the budget):
 * - every system message (the instructions, and a summary `summarizing` adds);
 * - the newest user turn (re-prompts are not turns: the question the run is answering);
 * - the current step: the newest block, and when the newest blocks are loop re-prompts, those and the
 *   model's answer they correct (its open tool calls with their results, or the text it is told to redo).
 */
import * as Message from "../Message.js"

/** A run of messages that is kept or dropped as one (`end` exclusive). */
export interface Block {
  readonly start: number
  readonly end: number
  /** Every request carries it (see the module docs). */
  readonly pinned: boolean
}

const continuesBlock = (message: Message.Message) => message._tag === "ToolMessage" || message._tag === "ApprovalMessage"

/** Splits a conversation into blocks, each marked pinned or not (see the module docs). */
export const blocks = (messages: ReadonlyArray<Message.Message>): ReadonlyArray<Block> => {
  const spans: Array<{ start: number; end: number }> = []
  let i = 0
  while (i < messages.length) {
    const start = i
    const message = messages[i++]!
    if (message._tag !== "SystemMessage" && message._tag !== "UserMessage") {
      while (i < messages.length && continuesBlock(messages[i]!)) i++
    }
    spans.push({ start, end: i })
  }
  const pinned = spans.map(({ start }) => messages[start]!._tag === "SystemMessage")
  const question = Message.lastUserTurn(messages)
  if (question >= 0) pinned[spans.findIndex((span) => span.start === question)] = true
  // The current step: trailing re-prompts and the block before them (or just the newest block).
  for (let b = spans.length - 1; b >= 0; b--) {
    pinned[b] = true
    if (!Message.isReprompt(messages[spans[b]!.start]!)) break
  }
  return spans.map((span, b) => ({ start: span.start, end: span.end, pinned: pinned[b]! }))
}

/** The messages of the kept blocks, in order. */
export const keep = (messages: ReadonlyArray<Message.Message>, all: ReadonlyArray<Block>, kept: ReadonlyArray<boolean>): Array<Message.Message> => {
  const out: Array<Message.Message> = []
  all.forEach((block, i) => {
    if (kept[i]) for (let m = block.start; m < block.end; m++) out.push(messages[m]!)
  })
  return out
}

/** Each block's cost under `count`. */
export const sizes = (messages: ReadonlyArray<Message.Message>, all: ReadonlyArray<Block>, count: (message: Message.Message) => number): Array<number> =>
  all.map((block) => {
    let tokens = 0
    for (let m = block.start; m < block.end; m++) tokens += count(messages[m]!)
    return tokens
  })
