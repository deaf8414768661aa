/**
 * Context limits: the `ContextPolicy` service chooses, before each model step, which messages of the run
 * the model sees. The run state always keeps the whole conversation; only the request is trimmed.
 *
 * Every built-in policy drops whole blocks only: an assistant message together with the tool results and
 * approval answers that follow it (so a tool call is never separated from its result), or a user message.
 * System messages are never dropped, nor is the newest block (the current question, or the step's open
 * calls and their results). Without a policy in context the model sees everything (the default).
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Stream } from "effect"
import { collectStep, LanguageModel, type ModelError, type ModelRequest, type Service as ModelService } from "./LanguageModel.js"
import * as Message from "./Message.js"

export interface Service {
  /** The messages the model sees this step, chosen from the run's conversation (oldest first). */
  readonly select: (messages: ReadonlyArray<Message.Message>) => Effect.Effect<ReadonlyArray<Message.Message>, ModelError>
}

export class ContextPolicy extends Context.Service<ContextPolicy, Service>()("@agentloop/core/ContextPolicy") {}

/** How many tokens a message costs. Plug in a real tokenizer for exact budgets. */
export type TokenCounter = (message: Message.Message) => number

/** About four characters per token, plus a few tokens of per-message overhead: no tokenizer needed. */
export const approximateTokens: TokenCounter = (message) => {
  let chars = 0
  switch (message._tag) {
    case "SystemMessage":
    case "UserMessage":
      chars = message.content.length
      break
    case "AssistantMessage":
      chars = message.text.length
      for (const call of message.toolCalls) chars += call.name.length + call.arguments.length
      break
    case "ToolMessage":
      chars = message.content.length + message.toolName.length
      break
    case "ApprovalMessage":
      chars = message.toolName.length + (message.reason?.length ?? 0)
      break
  }
  return 4 + Math.ceil(chars / 4)
}

/** The default: the model sees the whole conversation. */
export const keepAll: Service = { select: Effect.succeed }

/** A run of messages that is kept or dropped as one. */
interface Block {
  readonly start: number
  readonly end: number
  readonly pinned: boolean
}

/**
 * Splits a conversation into blocks: each system message (pinned), each user message, and each assistant
 * message with the tool results and approval answers that follow it.
 */
export const blocks = (messages: ReadonlyArray<Message.Message>): ReadonlyArray<Block> => {
  const out: Array<Block> = []
  let i = 0
  while (i < messages.length) {
    const start = i
    const message = messages[i++]!
    if (message._tag === "AssistantMessage" || message._tag === "ToolMessage" || message._tag === "ApprovalMessage") {
      while (i < messages.length && (messages[i]!._tag === "ToolMessage" || messages[i]!._tag === "ApprovalMessage")) i++
    }
    out.push({ start, end: i, pinned: message._tag === "SystemMessage" })
  }
  return out
}

/** The messages of the kept blocks, in order. */
const keep = (messages: ReadonlyArray<Message.Message>, all: ReadonlyArray<Block>, kept: ReadonlyArray<boolean>) => {
  const out: Array<Message.Message> = []
  all.forEach((block, i) => {
    if (kept[i]) for (let m = block.start; m < block.end; m++) out.push(messages[m]!)
  })
  return out
}

/**
 * Keeps the system messages and the last `n` turns, a turn starting at a user message (with every
 * assistant step, tool call and result after it).
 */
export const lastTurns = (n: number): Service => {
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`ContextPolicy.lastTurns: n must be an integer >= 1, got ${n}`)
  return {
    select: (messages) =>
      Effect.sync(() => {
        let seen = 0
        let from = 0
        for (let i = messages.length - 1; i >= 0; i--) {
          if (messages[i]!._tag === "UserMessage" && ++seen === n) {
            from = i
            break
          }
        }
        if (from === 0) return messages
        return messages.filter((message, i) => i >= from || message._tag === "SystemMessage")
      })
  }
}

/**
 * Keeps the conversation within `maxTokens` (as counted by `counter`, default `approximateTokens`) by
 * dropping the oldest blocks first. System messages and the newest block are always kept, even if they
 * alone exceed the budget.
 */
export const tokenBudget = (options: { readonly maxTokens: number; readonly counter?: TokenCounter }): Service => {
  if (!(options.maxTokens > 0)) throw new TypeError(`ContextPolicy.tokenBudget: maxTokens must be positive, got ${options.maxTokens}`)
  const count = options.counter ?? approximateTokens
  return {
    select: (messages) =>
      Effect.sync(() => {
        const all = blocks(messages)
        const sizes = all.map((block) => {
          let tokens = 0
          for (let m = block.start; m < block.end; m++) tokens += count(messages[m]!)
          return tokens
        })
        let total = sizes.reduce((a, b) => a + b, 0)
        if (total <= options.maxTokens) return messages
        const kept = all.map(() => true)
        for (let i = 0; i < all.length - 1 && total > options.maxTokens; i++) {
          if (all[i]!.pinned) continue
          kept[i] = false
          total -= sizes[i]!
        }
        return keep(messages, all, kept)
      })
  }
}

/** The messages `inner` dropped (those not in its selection), in order. */
const droppedBy = (messages: ReadonlyArray<Message.Message>, selected: ReadonlyArray<Message.Message>) => {
  const keptSet = new Set(selected)
  return messages.filter((message) => !keptSet.has(message))
}

/** A conversation as plain text, for the summarising request. */
const transcript = (messages: ReadonlyArray<Message.Message>): string =>
  messages
    .map((m) => {
      switch (m._tag) {
        case "SystemMessage":
          return `system: ${m.content}`
        case "UserMessage":
          return `user: ${m.content}`
        case "AssistantMessage":
          return `assistant: ${m.text}${m.toolCalls.map((c) => `\n  called ${c.name}(${c.arguments})`).join("")}`
        case "ToolMessage":
          return `tool ${m.toolName}${m.isError ? " (error)" : ""}: ${m.content}`
        case "ApprovalMessage":
          return `approval of ${m.toolName}: ${m.approved ? "approved" : "denied"}`
      }
    })
    .join("\n")

export const defaultSummaryInstructions =
  "Summarise the conversation below for the assistant that continues it: keep facts, decisions, tool results " +
  "and open questions; be brief."

/**
 * Like `inner`, but what `inner` drops is summarised by the model (one extra model request, whose tokens are
 * not counted in the run's usage) and the summary is given to the model as a system message after the
 * pinned ones. Summaries are remembered per dropped prefix, so a long run asks again only when more is dropped.
 */
export const summarizing = (
  inner: Service,
  options: { readonly instructions?: string } = {}
): Effect.Effect<Service, never, LanguageModel> =>
  Effect.map(LanguageModel, (model) => {
    const summaries = new WeakMap<Message.Message, string>()
    const summarise = (dropped: ReadonlyArray<Message.Message>) => {
      const last = dropped[dropped.length - 1]!
      const known = summaries.get(last)
      if (known !== undefined) return Effect.succeed(known)
      const request: ModelRequest = {
        messages: [Message.system(options.instructions ?? defaultSummaryInstructions), Message.user(transcript(dropped))],
        tools: [],
        availableTools: [],
        toolChoice: "none",
        parallelToolCalls: false
      }
      return Effect.map(collectStep(model, request), (response) => {
        summaries.set(last, response.text)
        return response.text
      })
    }
    return {
      select: (messages) =>
        Effect.flatMap(inner.select(messages), (selected) => {
          const dropped = droppedBy(messages, selected).filter((m) => m._tag !== "SystemMessage")
          if (dropped.length === 0) return Effect.succeed(selected)
          return Effect.map(summarise(dropped), (summary) => {
            let at = 0
            while (at < selected.length && selected[at]!._tag === "SystemMessage") at++
            return [...selected.slice(0, at), Message.system(`Summary of the earlier conversation:\n${summary}`), ...selected.slice(at)]
          })
        })
    }
  })

export const layer = (policy: Service): Layer.Layer<ContextPolicy> => Layer.succeed(ContextPolicy, policy)
export const layerLastTurns = (n: number): Layer.Layer<ContextPolicy> => layer(lastTurns(n))
export const layerTokenBudget = (options: { readonly maxTokens: number; readonly counter?: TokenCounter }): Layer.Layer<ContextPolicy> =>
  layer(tokenBudget(options))
/** A token budget whose dropped messages are summarised by the `LanguageModel` in context. */
export const layerSummarizing = (
  inner: Service,
  options?: { readonly instructions?: string }
): Layer.Layer<ContextPolicy, never, LanguageModel> => Layer.effect(ContextPolicy, summarizing(inner, options))

/**
 * The model as the loop uses it: with a policy, each request's messages are chosen by it first. Without
 * one the model is returned as it is, so runs without a policy pay nothing.
 */
export const applyTo = (model: ModelService, policy: Option.Option<Service>): ModelService => {
  if (Option.isNone(policy) || policy.value === keepAll) return model
  const { select } = policy.value
  const generateStep = model.generateStep
  return {
    streamStep: (request) => Stream.unwrap(Effect.map(select(request.messages), (messages) => model.streamStep({ ...request, messages }))),
    ...(generateStep === undefined
      ? {}
      : { generateStep: (request: ModelRequest) => Effect.flatMap(select(request.messages), (messages) => generateStep({ ...request, messages })) })
  }
}
