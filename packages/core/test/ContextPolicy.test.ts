import { ContextPolicy, LanguageModel, Message, Output, RunState, ToolRuleSolver } from "@agentloop/core"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option, Schema, Stream } from "effect"
import * as fc from "fast-check"
import { history, isReprompt, isSubsequence as isSubsequenceOf, isTurn, pairsIntact, pinnedIndexes } from "./support/histories.js"

/** A random conversation: a system message, then turns of user text and assistant steps with tool calls and results. */
const conversation = fc
  .array(
    fc.record({
      user: fc.string({ maxLength: 80 }),
      steps: fc.array(fc.record({ calls: fc.integer({ min: 0, max: 3 }), text: fc.string({ maxLength: 60 }), result: fc.string({ maxLength: 120 }) }), { maxLength: 3 })
    }),
    { minLength: 1, maxLength: 12 }
  )
  .map((turns) => {
    const messages: Array<Message.Message> = [Message.system("You are helpful.")]
    let id = 0
    for (const turn of turns) {
      messages.push(Message.user(turn.user))
      for (const step of turn.steps) {
        const calls = Array.from({ length: step.calls }, () => ({ id: `c${++id}`, name: "lookup", arguments: JSON.stringify({ q: step.text }) }))
        messages.push(Message.assistant(step.text, calls))
        for (const call of calls) messages.push(Message.toolResult({ toolCallId: call.id, toolName: "lookup", content: step.result, isError: false }))
      }
    }
    return messages
  })

/** Every tool result sent has its call in an assistant message sent before it, and every call sent has its result. */
const callsIntact = (messages: ReadonlyArray<Message.Message>) => {
  const called = new Set<string>()
  const answered = new Set<string>()
  for (const m of messages) {
    if (m._tag === "AssistantMessage") for (const c of m.toolCalls) called.add(c.id)
    if (m._tag === "ToolMessage") {
      if (!called.has(m.toolCallId)) return false
      answered.add(m.toolCallId)
    }
  }
  return [...called].every((id) => answered.has(id))
}

const isSubsequence = (sub: ReadonlyArray<unknown>, all: ReadonlyArray<unknown>) => {
  let i = 0
  for (const item of all) if (item === sub[i]) i++
  return i === sub.length
}

describe("ContextPolicy", () => {
  it("tokenBudget: never separates a call from its result, keeps the system message and the newest block, stays in budget when it can", () =>
    fc.assert(
      fc.property(conversation, fc.integer({ min: 1, max: 400 }), (messages, maxTokens) => {
        const exit = Effect.runSyncExit(ContextPolicy.tokenBudget({ maxTokens }).select(messages))
        // Issue 25: the newest user turn is pinned too; when the pinned blocks cannot fit, a typed error says so.
        if (Exit.isFailure(exit)) {
          expect(Cause.findErrorOption(exit.cause)).toMatchObject({ value: { _tag: "ContextBudgetExceeded", maxTokens } })
          return
        }
        const selected = exit.value
        expect(isSubsequence(selected, messages)).toBe(true)
        expect(callsIntact(selected)).toBe(true)
        expect(selected[0]).toBe(messages[0])
        expect(selected.at(-1)).toBe(messages.at(-1))
        const blocks = ContextPolicy.blocks(messages)
        const last = blocks.at(-1)!
        const floor = messages.slice(last.start).reduce((n, m) => n + ContextPolicy.approximateTokens(m), ContextPolicy.approximateTokens(messages[0]!))
        const used = selected.reduce((n, m) => n + ContextPolicy.approximateTokens(m), 0)
        expect(used <= Math.max(maxTokens, floor)).toBe(true)
      }),
      { numRuns: 300 }
    ))

  it("lastTurns: the system message plus everything from the n-th last user message", () =>
    fc.assert(
      fc.property(conversation, fc.integer({ min: 1, max: 5 }), (messages, n) => {
        const selected = Effect.runSync(ContextPolicy.lastTurns(n).select(messages))
        expect(callsIntact(selected)).toBe(true)
        expect(selected[0]).toBe(messages[0])
        expect(selected.filter((m) => m._tag === "UserMessage").length).toBe(Math.min(n, messages.filter((m) => m._tag === "UserMessage").length))
        expect(selected.at(-1)).toBe(messages.at(-1))
      })
    ))

  it("a pluggable counter decides the budget", () => {
    const messages = [Message.system("s"), Message.user("a"), Message.assistant("b"), Message.user("c")]
    const onePerMessage = ContextPolicy.tokenBudget({ maxTokens: 3, counter: () => 1 })
    expect(Effect.runSync(onePerMessage.select(messages))).toEqual([Message.system("s"), Message.assistant("b"), Message.user("c")])
  })

  it("bad limits are refused when the policy is made", () => {
    expect(() => ContextPolicy.lastTurns(0)).toThrow(TypeError)
    expect(() => ContextPolicy.tokenBudget({ maxTokens: 0 })).toThrow(TypeError)
  })
})

// ---------------------------------------------------------------------------------------------------------
// Issue 25: what the model needs stays in the request, on conversations as the loop builds them.

/** A model that answers every summarising request with `summary` (and counts the requests). */
const summarizer = (summary: string) => {
  const requests: Array<LanguageModel.ModelRequest> = []
  const model: LanguageModel.Service = {
    streamStep: () => Stream.die("the summariser is asked for pushed steps"),
    pushStep: (request, emit) =>
      Effect.sync(() => {
        requests.push(request)
        emit([LanguageModel.textDelta(summary), LanguageModel.finish("stop")])
      })
  }
  return { model, requests }
}

const summarized = (inner: ContextPolicy.Service, summary: string, options?: ContextPolicy.SummarizingOptions) =>
  Effect.runSync(Effect.provideService(ContextPolicy.summarizing(inner, options), LanguageModel.LanguageModel, summarizer(summary).model))

const heading = "Summary of the earlier conversation:\n"
const isSummary = (m: Message.Message, input: ReadonlyArray<Message.Message>) => m._tag === "SystemMessage" && m.content.startsWith(heading) && !input.includes(m)

type Counter = ContextPolicy.TokenCounter
const counters: ReadonlyArray<readonly [string, Counter]> = [
  ["approximateTokens", ContextPolicy.approximateTokens],
  // Not proportional to length at all: the policies must not assume it.
  ["words", (m) => 2 + JSON.stringify(m).split(/[\s,]+/).length]
]

/**
 * The invariants every policy keeps, for one history: what is sent comes from the history in order (plus at most
 * one summary, after the leading system messages), calls stay with their results, and the pinned messages (system
 * messages, the newest user turn, the current step) are all sent. With a budget: the request fits it whenever the
 * pinned messages do; otherwise the policy fails with ContextBudgetExceeded naming what they need.
 */
const checkInvariants = (
  input: ReadonlyArray<Message.Message>,
  exit: Exit.Exit<ReadonlyArray<Message.Message>, unknown>,
  budget: { readonly maxTokens: number; readonly counter: Counter } | undefined,
  summarising: boolean
) => {
  const pinned = pinnedIndexes(input)
  const pinnedTokens = [...pinned].reduce((n, i) => n + (budget?.counter(input[i]!) ?? 0), 0)
  if (Exit.isFailure(exit)) {
    expect(budget, "only a budget may refuse").toBeDefined()
    expect(Cause.findErrorOption(exit.cause)).toMatchObject({ value: { _tag: "ContextBudgetExceeded", maxTokens: budget!.maxTokens, pinnedTokens } })
    expect(pinnedTokens).toBeGreaterThan(budget!.maxTokens)
    return "refused" as const
  }
  const sent = exit.value
  const summaries = sent.filter((m) => isSummary(m, input))
  const base = sent.filter((m) => !isSummary(m, input))
  expect(summaries.length).toBeLessThanOrEqual(summarising ? 1 : 0)
  if (summaries.length === 1) {
    const at = sent.indexOf(summaries[0]!)
    expect(sent.slice(0, at).every((m) => m._tag === "SystemMessage")).toBe(true)
    expect(sent[at + 1]?._tag).not.toBe("SystemMessage")
  }
  expect(isSubsequenceOf(base, input)).toBe(true)
  expect(pairsIntact(base, input)).toBe(true)
  for (const i of pinned) expect(base.includes(input[i]!), `pinned message ${i} (${input[i]!._tag}) is sent`).toBe(true)
  if (budget !== undefined) {
    if (pinnedTokens <= budget.maxTokens) expect(sent.reduce((n, m) => n + budget.counter(m), 0)).toBeLessThanOrEqual(budget.maxTokens)
  }
  return base.length < input.length ? ("trimmed" as const) : ("whole" as const)
}

const runs = 1500

describe("ContextPolicy on loop-shaped histories (re-prompts, sub-agents, handoffs, approvals)", () => {
  it(`every built-in policy keeps the instructions, the newest user turn and the current step, and calls with their results (${runs} histories each)`, () => {
    const seen = { refused: 0, trimmed: 0, whole: 0 }
    fc.assert(
      fc.property(history, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 20, max: 2500 }), fc.constantFrom(...counters), (input, n, maxTokens, [, counter]) => {
        checkInvariants(input, Effect.runSyncExit(ContextPolicy.keepAll.select(input)), undefined, false)
        expect(Effect.runSync(ContextPolicy.keepAll.select(input))).toBe(input)
        const turns = Effect.runSyncExit(ContextPolicy.lastTurns(n).select(input))
        checkInvariants(input, turns, undefined, false)
        // Re-prompts are not turns: n user turns are kept (or every one there is), and all that follows the first.
        const kept = Exit.isSuccess(turns) ? turns.value : []
        expect(kept.filter(isTurn).length).toBe(Math.min(n, input.filter(isTurn).length))
        const firstTurn = kept.find(isTurn)
        if (firstTurn !== undefined) expect(kept.slice(kept.indexOf(firstTurn))).toEqual(input.slice(input.indexOf(firstTurn)))
        seen[checkInvariants(input, Effect.runSyncExit(ContextPolicy.tokenBudget({ maxTokens, counter }).select(input)), { maxTokens, counter }, false)]++
      }),
      { numRuns: runs }
    )
    // The histories reach every branch: refused, trimmed and sent whole.
    expect(seen.refused).toBeGreaterThan(0)
    expect(seen.trimmed).toBeGreaterThan(0)
    expect(seen.whole).toBeGreaterThan(0)
  })

  it(`summarizing around each built-in policy: the same invariants, and the summary counts toward the budget it wraps (${runs} histories each)`, () => {
    let summarisedWithinBudget = 0
    fc.assert(
      fc.property(
        history,
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 20, max: 2500 }),
        fc.constantFrom(...counters),
        fc.string({ maxLength: 3000 }),
        fc.option(fc.integer({ min: 0, max: 600 }), { nil: undefined }),
        (input, n, maxTokens, [, counter], summary, maxSummaryTokens) => {
          const options = maxSummaryTokens === undefined ? {} : { maxSummaryTokens }
          for (const inner of [ContextPolicy.keepAll, ContextPolicy.lastTurns(n)]) {
            checkInvariants(input, Effect.runSyncExit(summarized(inner, summary, options).select(input)), undefined, true)
          }
          const exit = Effect.runSyncExit(summarized(ContextPolicy.tokenBudget({ maxTokens, counter }), summary, options).select(input))
          checkInvariants(input, exit, { maxTokens, counter }, true)
          if (Exit.isSuccess(exit) && exit.value.some((m) => isSummary(m, input))) summarisedWithinBudget++
        }
      ),
      { numRuns: runs }
    )
    expect(summarisedWithinBudget).toBeGreaterThan(0)
  })

  it("an 800-token budget over a question and five tool steps: later tool blocks are dropped, never the question", () => {
    const question = Message.user(`Why was invoice 7 charged twice? ${"Details of the charge. ".repeat(12)}`)
    const messages: Array<Message.Message> = [Message.system("You handle billing."), question]
    for (let step = 1; step <= 5; step++) {
      const call = { id: `c${step}`, name: "lookup", arguments: JSON.stringify({ step }) }
      messages.push(Message.assistant(`Checking ${step}.`, [call]))
      messages.push(Message.toolResult({ toolCallId: call.id, toolName: "lookup", content: `ledger page ${step}: ${"row ".repeat(150)}`, isError: false }))
    }
    const sent = Effect.runSync(ContextPolicy.tokenBudget({ maxTokens: 800 }).select(messages))
    expect(sent[0]).toEqual(Message.system("You handle billing."))
    expect(sent[1]).toBe(question)
    expect(sent.slice(-2)).toEqual(messages.slice(-2))
    expect(sent.reduce((n, m) => n + ContextPolicy.approximateTokens(m), 0)).toBeLessThanOrEqual(800)
    expect(sent.length).toBeLessThan(messages.length)
  })

  it("lastTurns(1) after a typed-output and a tool-choice re-prompt keeps the question and the answers being corrected", () => {
    const messages = [
      Message.system("s"),
      Message.user("first question"),
      Message.assistant("first answer"),
      Message.user("second question"),
      Message.assistant("not json"),
      Message.reprompt("output", Output.reprompt("Expected number", undefined)),
      Message.assistant("still text"),
      Message.reprompt("tool_choice", "[This is an automated system message hidden from the user] ToolChoiceViolated: You must call a tool now; answer with a tool call, not text.")
    ]
    expect(Effect.runSync(ContextPolicy.lastTurns(1).select(messages))).toEqual([messages[0], ...messages.slice(3)])
  })

  it("summarizing(tokenBudget({ maxTokens: 400 })) never sends more than 400 tokens, however long the summary", () => {
    const messages: Array<Message.Message> = [Message.system("You report the weather.")]
    for (let i = 1; i <= 20; i++) {
      messages.push(Message.user(`Question ${i}: ${"padding ".repeat(20)}`))
      messages.push(Message.assistant(`Answer ${i}: ${"sunny ".repeat(10)}`))
    }
    messages.push(Message.user("And in Oslo?"))
    for (const summary of ["short", "x ".repeat(2000)]) {
      const sent = Effect.runSync(summarized(ContextPolicy.tokenBudget({ maxTokens: 400 }), summary).select(messages))
      expect(sent.reduce((n, m) => n + ContextPolicy.approximateTokens(m), 0)).toBeLessThanOrEqual(400)
      expect(sent[1]).toMatchObject({ _tag: "SystemMessage", content: expect.stringContaining(heading) })
      expect(sent.at(-1)).toEqual(Message.user("And in Oslo?"))
    }
  })

  it("a budget the pinned messages exceed fails with ContextBudgetExceeded, naming both numbers", () => {
    const messages = [Message.system("You are helpful."), Message.user("x".repeat(400)), Message.assistant("ok")]
    const exit = Effect.runSyncExit(ContextPolicy.tokenBudget({ maxTokens: 50 }).select(messages))
    const error = Cause.findErrorOption((exit as Exit.Failure<unknown, ContextPolicy.ContextBudgetExceeded>).cause)
    expect(error).toMatchObject({ value: { _tag: "ContextBudgetExceeded", maxTokens: 50, pinnedTokens: 8 + 104 + 5 } })
    expect(Option.getOrThrow(error).message).toContain("50 tokens")
    expect(() => Effect.runSync(Effect.provideService(ContextPolicy.summarizing(ContextPolicy.keepAll, { maxSummaryTokens: -1 }), LanguageModel.LanguageModel, summarizer("").model))).toThrow(TypeError)
  })
})

describe("re-prompts are marked in the history", () => {
  it("the loop's three re-prompts are recognised, marked or (stored before marks) by their wording; the user's turns are not", () => {
    const texts = [
      Output.reprompt("Expected number", "final_answer"),
      ToolRuleSolver.requiredBeforeExitPrompt(["save"]),
      "[This is an automated system message hidden from the user] ToolChoiceViolated: You must call a tool now; answer with a tool call, not text."
    ]
    for (const text of texts) {
      expect(Message.isReprompt(Message.user(text))).toBe(true)
      expect(Message.isReprompt(Message.reprompt("output", text))).toBe(true)
      expect(isReprompt(Message.user(text))).toBe(true)
    }
    expect(Message.isReprompt(Message.reprompt("tool_choice", "anything"))).toBe(true)
    expect(Message.isUserTurn(Message.user("Refund order 42, please."))).toBe(true)
    expect(Message.isUserTurn(Message.system("x"))).toBe(false)
    expect(Message.lastUserTurn([Message.user("q"), Message.assistant("a"), Message.reprompt("output", "redo")])).toBe(0)
  })

  it("the mark round-trips through RunState JSON; a state stored before marks still decodes and its re-prompts are still recognised", async () => {
    const state = {
      version: 1,
      runId: "r",
      agent: "a",
      status: "running",
      messages: [
        { _tag: "UserMessage", content: "question" },
        { _tag: "AssistantMessage", text: "bad", toolCalls: [] },
        { _tag: "UserMessage", content: "Redo it.", reprompt: "output" }
      ],
      step: 1,
      toolHistory: [],
      toolChoiceUsed: false,
      queue: [],
      executedInStep: [],
      pending: [],
      usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 }
    }
    const decoded = await Effect.runPromise(RunState.decodeJson("r", JSON.stringify(state)))
    expect(decoded.messages[2]).toEqual({ _tag: "UserMessage", content: "Redo it.", reprompt: "output" })
    expect(JSON.parse(JSON.stringify(Schema.encodeSync(RunState.RunState)(decoded))).messages[2]).toEqual({ _tag: "UserMessage", content: "Redo it.", reprompt: "output" })
    // Before marks: the same re-prompt as plain text.
    const old = { ...state, messages: [state.messages[0], state.messages[1], { _tag: "UserMessage", content: Output.reprompt("Expected number") }] }
    const legacy = await Effect.runPromise(RunState.decodeJson("r", JSON.stringify(old)))
    expect(Message.isReprompt(legacy.messages[2]!)).toBe(true)
    expect(Message.lastUserTurn(legacy.messages)).toBe(0)
    // A mark that is not one of the kinds is refused, naming the field.
    const bad = await Effect.runPromiseExit(RunState.decodeJson("r", JSON.stringify({ ...state, messages: [{ _tag: "UserMessage", content: "q", reprompt: "mine" }] })))
    expect(JSON.stringify(bad)).toContain("reprompt")
  })
})
