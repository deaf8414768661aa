/**
 * Context limits: the `ContextPolicy` service chooses, before each model step, which messages of the run
 * the model sees. The run state always keeps the whole conversation; only the request is trimmed.
 *
 * Every built-in policy drops whole blocks only: an assistant message together with the tool results and
 * approval answers that follow it (so a tool call is never separated from its result), or a user message.
 * Some blocks are pinned, kept whatever the limit: the system messages (the instructions), the newest user
 * turn (the question; the loop's re-prompts are not turns, see `Message.isReprompt`) and the current step (the
 * newest block; after re-prompts, those and the answer they correct). A token budget is met whenever the pinned
 * blocks fit it; when they do not, the policy fails with `ContextBudgetExceeded` and the run stops with
 * `Stopped { reason: "context_budget" }` (nothing is sent to the model). Without a policy in context the model
 * sees everything (the default).
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Result, Schema, Stream } from "effect"
import * as Blocks from "./internal/contextBlocks.js"
import { collectStep, LanguageModel, ModelError, type ModelRequest, type Service as ModelService } from "./LanguageModel.js"
import * as Message from "./Message.js"

/**
 * A token budget cannot hold the blocks every request must carry (the instructions, the newest user turn and
 * the current step). The loop ends the run with `Stopped { reason: "context_budget" }` and this message.
 */
export class ContextBudgetExceeded extends Schema.TaggedError<ContextBudgetExceeded>()("ContextBudgetExceeded", {
  maxTokens: Schema.Number,
  /** What the pinned blocks need (instructions, newest user turn, current step). */
  pinnedTokens: Schema.Number
}) {
  override get message(): string {
    return (
      `The context budget of ${this.maxTokens} tokens cannot hold what every request must carry (the instructions, ` +
      `the newest user turn and the current step's tool calls and results): they need ${this.pinnedTokens} tokens`
    )
  }
}

export interface Service {
  /** The messages the model sees this step, chosen from the run's conversation (oldest first). */
  readonly select: (messages: ReadonlyArray<Message.Message>) => Effect.Effect<ReadonlyArray<Message.Message>, ModelError | ContextBudgetExceeded>
  /** Set by token budgets: what `summarizing` counts its summary against. */
  readonly budget?: Budget
}

/** A token budget, as `summarizing` sees the policy it wraps. */
export interface Budget {
  readonly maxTokens: number
  readonly counter: TokenCounter
  /** The selection within `maxTokens` (which may be lower than the policy's own). Pure. */
  readonly within: (messages: ReadonlyArray<Message.Message>, maxTokens: number) => Result.Result<ReadonlyArray<Message.Message>, ContextBudgetExceeded>
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

/** A block of a conversation: see `internal/contextBlocks` (pinned: kept by every built-in policy). */
export type Block = Blocks.Block

/**
 * Splits a conversation into blocks: each system message, each user message, and each assistant message with
 * the tool results and approval answers that follow it; `pinned` marks those every built-in policy keeps.
 */
export const blocks: (messages: ReadonlyArray<Message.Message>) => ReadonlyArray<Block> = Blocks.blocks

/**
 * Keeps the system messages and the last `n` turns, a turn starting at a user message that is not a loop
 * re-prompt (with every assistant step, tool call, result and re-prompt after it).
 */
export const lastTurns = (n: number): Service => {
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`ContextPolicy.lastTurns: n must be an integer >= 1, got ${n}`)
  return {
    select: (messages) =>
      Effect.sync(() => {
        let seen = 0
        let from = 0
        for (let i = messages.length - 1; i >= 0; i--) {
          if (Message.isUserTurn(messages[i]!) && ++seen === n) {
            from = i
            break
          }
        }
        if (from === 0) return messages
        return messages.filter((message, i) => i >= from || message._tag === "SystemMessage")
      })
  }
}

/** The selection of `within`, or why the pinned blocks cannot fit `maxTokens`. Pure. */
const selectWithin = (
  messages: ReadonlyArray<Message.Message>,
  maxTokens: number,
  count: TokenCounter
): Result.Result<ReadonlyArray<Message.Message>, ContextBudgetExceeded> => {
  const all = Blocks.blocks(messages)
  const sizes = Blocks.sizes(messages, all, count)
  let total = 0
  let pinned = 0
  all.forEach((block, i) => {
    total += sizes[i]!
    if (block.pinned) pinned += sizes[i]!
  })
  if (total <= maxTokens) return Result.succeed(messages)
  if (pinned > maxTokens) return Result.fail(new ContextBudgetExceeded({ maxTokens, pinnedTokens: pinned }))
  // Oldest first: earlier turns go before the current turn's earlier steps; pinned blocks stay.
  const kept = all.map(() => true)
  for (let i = 0; i < all.length && total > maxTokens; i++) {
    if (all[i]!.pinned) continue
    kept[i] = false
    total -= sizes[i]!
  }
  return Result.succeed(Blocks.keep(messages, all, kept))
}

/**
 * Keeps the conversation within `maxTokens` (as counted by `counter`, default `approximateTokens`) by dropping
 * the oldest unpinned blocks first. When the pinned blocks alone exceed the budget, fails with
 * `ContextBudgetExceeded` (the run stops with `context_budget`).
 */
export const tokenBudget = (options: { readonly maxTokens: number; readonly counter?: TokenCounter }): Service => {
  if (!(options.maxTokens > 0)) throw new TypeError(`ContextPolicy.tokenBudget: maxTokens must be positive, got ${options.maxTokens}`)
  const counter = options.counter ?? approximateTokens
  const within = (messages: ReadonlyArray<Message.Message>, maxTokens: number) => selectWithin(messages, maxTokens, counter)
  return {
    select: (messages) => Effect.suspend(() => Effect.fromResult(within(messages, options.maxTokens))),
    budget: { maxTokens: options.maxTokens, counter, within }
  }
}

/** The messages `inner` dropped (those not in its selection), in order; system messages are never summarised. */
const droppedBy = (messages: ReadonlyArray<Message.Message>, selected: ReadonlyArray<Message.Message>) => {
  const keptSet = new Set(selected)
  return messages.filter((message) => !keptSet.has(message) && message._tag !== "SystemMessage")
}

/** A conversation as plain text, for the summarising request. */
const transcript = (messages: ReadonlyArray<Message.Message>): string =>
  messages
    .map((m) => {
      switch (m._tag) {
        case "SystemMessage":
          return `system: ${m.content}`
        case "UserMessage":
          return `${Message.isReprompt(m) ? "loop re-prompt" : "user"}: ${m.content}`
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

const summaryHeading = "Summary of the earlier conversation:\n"

/**
 * The summary as a system message that costs at most `room` tokens: cut short (with "…") when the model's text
 * is longer, none when not even the heading fits.
 */
const fitSummary = (text: string, room: number, count: TokenCounter): Message.SystemMessage | undefined => {
  const whole = Message.system(summaryHeading + text)
  if (count(whole) <= room) return whole
  let low = 0
  let high = text.length
  while (low < high) {
    const mid = Math.ceil((low + high) / 2)
    if (count(Message.system(`${summaryHeading}${text.slice(0, mid)}…`)) <= room) low = mid
    else high = mid - 1
  }
  const cut = Message.system(`${summaryHeading}${text.slice(0, low)}…`)
  // A counter need not grow with the text: check the result rather than trust the search.
  return count(cut) <= room ? cut : undefined
}

export interface SummarizingOptions {
  /** The instructions of the summarising request (default `defaultSummaryInstructions`). */
  readonly instructions?: string
  /**
   * Around a token budget: the tokens kept free for the summary when something must be dropped (default a
   * quarter of the budget). The summary counts toward the budget: a longer one is cut short to fit.
   */
  readonly maxSummaryTokens?: number
}

/**
 * Like `inner`, but what `inner` drops is summarised by the model (one extra model request, whose tokens are not
 * counted in the run's usage) and the summary is given to the model as a system message after the leading
 * ones. Around a token budget the summary counts toward it: room for it is kept (`maxSummaryTokens`) and a
 * longer summary is cut short, so the request still fits the budget. Summaries are remembered per dropped
 * prefix, so a long run asks again only when more is dropped.
 */
export const summarizing = (inner: Service, options: SummarizingOptions = {}): Effect.Effect<Service, never, LanguageModel> => {
  if (options.maxSummaryTokens !== undefined && !(options.maxSummaryTokens >= 0)) {
    throw new TypeError(`ContextPolicy.summarizing: maxSummaryTokens must be >= 0, got ${options.maxSummaryTokens}`)
  }
  return Effect.map(LanguageModel, (model) => {
    // Keyed by the last dropped message, checked against how many were dropped (a new turn may drop an older question).
    const summaries = new WeakMap<Message.Message, { readonly count: number; readonly text: string }>()
    const summarise = (dropped: ReadonlyArray<Message.Message>, room: number | undefined) => {
      const last = dropped[dropped.length - 1]!
      const known = summaries.get(last)
      if (known !== undefined && known.count === dropped.length) return Effect.succeed(known.text)
      const instructions = options.instructions ?? defaultSummaryInstructions
      const request: ModelRequest = {
        messages: [
          Message.system(room === undefined ? instructions : `${instructions} Use at most about ${Math.max(1, room - 8)} tokens.`),
          Message.user(transcript(dropped))
        ],
        tools: [],
        availableTools: [],
        toolChoice: "none",
        parallelToolCalls: false
      }
      return Effect.map(collectStep(model, request), (response) => {
        summaries.set(last, { count: dropped.length, text: response.text })
        return response.text
      })
    }
    const insert = (selected: ReadonlyArray<Message.Message>, summary: Message.SystemMessage | undefined) => {
      if (summary === undefined) return selected
      let at = 0
      while (at < selected.length && selected[at]!._tag === "SystemMessage") at++
      return [...selected.slice(0, at), summary, ...selected.slice(at)]
    }
    const budget = inner.budget
    if (budget === undefined) {
      return {
        select: (messages) =>
          Effect.flatMap(inner.select(messages), (selected) => {
            const dropped = droppedBy(messages, selected)
            if (dropped.length === 0) return Effect.succeed(selected)
            return Effect.map(summarise(dropped, undefined), (text) => insert(selected, Message.system(summaryHeading + text)))
          })
      }
    }
    const { counter, maxTokens } = budget
    const reserve = options.maxSummaryTokens ?? Math.floor(maxTokens / 4)
    const tokens = (messages: ReadonlyArray<Message.Message>) => messages.reduce((n, m) => n + counter(m), 0)
    return {
      select: (messages) =>
        Effect.suspend((): Effect.Effect<ReadonlyArray<Message.Message>, ModelError | ContextBudgetExceeded> => {
          if (tokens(messages) <= maxTokens) return Effect.succeed(messages)
          // Leave room for the summary; if the pinned blocks need it, the summary gets what is left.
          const roomy = reserve > 0 && reserve < maxTokens ? budget.within(messages, maxTokens - reserve) : undefined
          const chosen = roomy !== undefined && Result.isSuccess(roomy) ? roomy : budget.within(messages, maxTokens)
          if (Result.isFailure(chosen)) return Effect.fail(chosen.failure)
          const selected = chosen.success
          const dropped = droppedBy(messages, selected)
          if (dropped.length === 0) return Effect.succeed(selected)
          const room = maxTokens - tokens(selected)
          return Effect.map(summarise(dropped, room), (text) => insert(selected, fitSummary(text, room, counter)))
        })
    }
  })
}

export const layer = (policy: Service): Layer.Layer<ContextPolicy> => Layer.succeed(ContextPolicy, policy)
export const layerLastTurns = (n: number): Layer.Layer<ContextPolicy> => layer(lastTurns(n))
export const layerTokenBudget = (options: { readonly maxTokens: number; readonly counter?: TokenCounter }): Layer.Layer<ContextPolicy> =>
  layer(tokenBudget(options))
/** A policy whose dropped messages are summarised by the `LanguageModel` in context (see `summarizing`). */
export const layerSummarizing = (
  inner: Service,
  options?: SummarizingOptions
): Layer.Layer<ContextPolicy, never, LanguageModel> => Layer.effect(ContextPolicy, summarizing(inner, options))

/**
 * The model as the loop uses it: with a policy, each request's messages are chosen by it first. Without
 * one the model is returned as it is, so runs without a policy pay nothing.
 */
export const applyTo = (model: ModelService, policy: Option.Option<Service>): ModelService => {
  if (Option.isNone(policy) || policy.value === keepAll) return model
  const chosen = policy.value.select
  // A budget the pinned blocks exceed reaches the loop as a `context-budget` ModelError, which stops the run.
  const select = (messages: ReadonlyArray<Message.Message>) =>
    Effect.catchTag(chosen(messages), "ContextBudgetExceeded", (error) =>
      Effect.fail(new ModelError({ message: error.message, retryable: false, reason: "context-budget", cause: error }))
    )
  const pushStep = model.pushStep
  return {
    ...model,
    streamStep: (request) => Stream.unwrap(Effect.map(select(request.messages), (messages) => model.streamStep({ ...request, messages }))),
    ...(pushStep === undefined
      ? {}
      : { pushStep: (request: ModelRequest, emit: Parameters<typeof pushStep>[1]) => Effect.flatMap(select(request.messages), (messages) => pushStep({ ...request, messages }, emit)) })
  }
}
