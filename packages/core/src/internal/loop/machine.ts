/**
 * The step machine, as data: the states a run goes through, the events that move it, and where each leads.
 * The driver (`driver.ts`) takes no transition that is not here: each place that moves the run names its edge
 * (`on.Model.Calls`), which the compiler checks against this table. docs/core.md prints the table from here
 * (`markdownTable`; `packages/core/test/Structure.test.ts` checks the two agree).
 *
 * @internal
 */

/** Every state, with the events that leave it and the state each leads to. Terminal states have none. */
export const transitions = {
  Start: { Fresh: "Step", Queued: "Tools" },
  Step: { Ask: "Model", StepLimit: "Stopped" },
  Model: { Calls: "Tools", Text: "Answer", ContextBudget: "Stopped", Failed: "Failed" },
  Answer: {
    TokenLimit: "Stopped",
    Filtered: "Stopped",
    ChoiceReprompt: "Continue",
    ChoiceExhausted: "Stopped",
    ExitHeld: "Continue",
    OutputReprompt: "Continue",
    OutputExhausted: "Stopped",
    Answered: "Completed"
  },
  Tools: { Settled: "Review", Pending: "Suspended" },
  Review: { FinalAnswer: "Completed", ExitHeld: "Continue", OutputExhausted: "Stopped", HandOff: "HandOff", Terminal: "Completed", Next: "Continue" },
  HandOff: { HandoffLimit: "Stopped", HandoffFailed: "Stopped", Switched: "Continue" },
  Continue: { StopCondition: "Stopped", Next: "Step" },
  Completed: {},
  Stopped: {},
  Suspended: {},
  Failed: {}
} as const

export type State = keyof typeof transitions

/** What each state is. */
export const states: { readonly [S in State]: string } = {
  Start: "a run begins: a new run, or a stored one its owner has just claimed",
  Step: "before a model step: the consumer's backpressure, the step limit, the lease gate",
  Model: "a model step under way, with the tools and tool choice the rules allow",
  Answer: "the model answered in text only",
  Tools: "the step's tool calls are triaged, approved and run (each through the lease gate)",
  Review: "every call of the step has its result",
  HandOff: "a handoff call ran: the conversation goes to its target (through the lease gate)",
  Continue: "the run would go on: the stop conditions are checked",
  Completed: "stored, then `RunFinished`: `Completed`",
  Stopped: "stored, then `RunFinished`: `Stopped` with its reason",
  Suspended: "stored with its pending approvals, then `RunFinished`: `Suspended`",
  Failed: "stored as `failed` (a resume takes the step again); the run fails with the `ModelError`"
}

/** When each event happens. */
export const events: { readonly [S in State]: { readonly [E in keyof (typeof transitions)[S]]: string } } = {
  Start: {
    Fresh: "nothing is queued: a new run, or a resume after the step's calls were settled",
    Queued: "a resume with calls of the step still queued (pending approvals, calls in flight)"
  },
  Step: {
    Ask: "fewer than `maxSteps` steps taken; the lease is live (renewed once half of it has passed)",
    StepLimit: "`maxSteps` steps taken: `max_steps`"
  },
  Model: {
    Calls: "the answer has tool calls (or a provider's approval requests)",
    Text: "the answer is text only",
    ContextBudget: "the context policy cannot fit the pinned messages (instructions, newest user turn, current step) in its budget; nothing was sent: `context_budget`",
    Failed: "the model failed with a `ModelError`"
  },
  Answer: {
    TokenLimit: "the answer was cut off by the output token limit: `max_tokens`",
    Filtered: "the answer was filtered: `content_filter`",
    ChoiceReprompt: "a forced tool choice was answered in text, re-prompts left: the model is told to call",
    ChoiceExhausted: "the same, past `toolChoiceRetries`: `tool_choice`",
    ExitHeld: "required-before-exit tools are uncalled: the model is told to call them",
    OutputReprompt: "the answer fails the output schema, retries left: the model gets the reason",
    OutputExhausted: "the same, past the output's retries: `invalid_output`",
    Answered: "`end_turn` (with the decoded output, for a typed agent)"
  },
  Tools: {
    Settled: "every call has its result (executed, rejected or denied)",
    Pending: "some calls wait for an approval (a sub-agent's included)"
  },
  Review: {
    FinalAnswer: "a valid final-answer call (`outputMode: \"tool\"`): `end_turn`",
    ExitHeld: "a final answer or a terminal tool, but required-before-exit tools are uncalled",
    OutputExhausted: "invalid final answers past the output's retries: `invalid_output`",
    HandOff: "a handoff call ran (the first of the step)",
    Terminal: "a terminal rule's tool ran successfully: `terminal_tool`",
    Next: "none of the above"
  },
  HandOff: {
    HandoffLimit: "one handoff more than `maxHandoffs`: `max_handoffs`",
    HandoffFailed: "the handoff's input filter threw: `handoff_failed`",
    Switched: "the target speaks from now on"
  },
  Continue: {
    StopCondition: "a `stopWhen` condition holds: `stop_condition`",
    Next: "the next model step"
  },
  Completed: {},
  Stopped: {},
  Suspended: {},
  Failed: {}
}

/** Every transition, in table order. */
export const edges = (): ReadonlyArray<{ readonly from: State; readonly event: string; readonly to: State; readonly when: string }> =>
  (Object.keys(transitions) as Array<State>).flatMap((from) =>
    Object.entries(transitions[from] as Record<string, State>).map(([event, to]) => ({
      from,
      event,
      to,
      when: (events[from] as Record<string, string>)[event]!
    }))
  )

/** The table as docs/core.md prints it. */
export const markdownTable = (): string =>
  [
    "| state | event | next state | when |",
    "|---|---|---|---|",
    ...edges().map((edge) => `| \`${edge.from}\` | \`${edge.event}\` | \`${edge.to}\` | ${edge.when} |`),
    "",
    "| state | what it is |",
    "|---|---|",
    ...(Object.keys(states) as Array<State>).map((state) => `| \`${state}\` | ${states[state]} |`)
  ].join("\n")
