/**
 * Tool choice, enforced: which choice a step runs under, which calls it refuses, and what happens when the
 * model answers in text although a call was forced. Pure; the loop calls these once per step or call.
 *
 * | choice of the step | a call of tool X | a text-only answer |
 * |---|---|---|
 * | `"none"` | refused (`RuleViolation`), the handler never runs | ends the run as usual |
 * | `"auto"` | allowed (rules permitting) | ends the run as usual |
 * | `"required"` | allowed (rules permitting) | re-prompted, at most `toolChoiceRetries` times, then `Stopped { reason: "tool_choice" }` |
 * | `{ function: F }` | allowed if X is F, else refused | as for `"required"` |
 */
import type * as Agent from "./agent.js"
import type { ToolChoice } from "../LanguageModel.js"
import type { ToolCall } from "../Message.js"
import * as Toolkit from "../Toolkit.js"
import type * as Solver from "../ToolRuleSolver.js"

/**
 * The choice a step runs under. Rules that force a call win; a forced agent choice applies until honoured
 * (unless `resetToolChoice` is off); a named choice the rules forbid at this step yields to the rules.
 */
export const effective = (agent: Agent.Any, toolChoiceUsed: boolean, plan: Solver.Plan): ToolChoice => {
  const base = agent.resetToolChoice && toolChoiceUsed && agent.toolChoice !== "none" ? "auto" : agent.toolChoice
  if (base === "none" || plan.allowed.length === 0) return "none"
  if (plan.forceToolCall) return plan.toolChoice
  if (typeof base === "object") return plan.allowed.includes(base.function) ? base : plan.toolChoice
  return base
}

/** The choice for calls processed after a resume: `"none"` is static; a forced choice was honoured or lapsed. */
export const afterResume = (agent: Agent.Any): ToolChoice => (agent.toolChoice === "none" ? "none" : "auto")

/** Whether a step's calls honour the agent's forced choice (`required`: any call; `{ function }`: a call of it), which then resets. */
export const honoured = (choice: ToolChoice, calls: ReadonlyArray<ToolCall>): boolean =>
  choice === "required" ? calls.length > 0 : typeof choice === "object" && calls.some((call) => call.name === choice.function)

/** Whether a step under this choice must call a tool. */
export const isForced = (choice: ToolChoice): boolean => choice === "required" || typeof choice === "object"

/** The error result for a call the step's tool choice forbids; `undefined` when it is allowed. */
export const refusal = (choice: ToolChoice, toolName: string): Toolkit.Execution | undefined => {
  if (choice === "none") {
    return Toolkit.errorResult(
      "RuleViolation",
      `[ToolChoiceError] Cannot call ${toolName}: tool choice is "none" for this step, so no tool may be called. Answer in text.`
    )
  }
  if (typeof choice === "object" && choice.function !== toolName) {
    return Toolkit.errorResult(
      "RuleViolation",
      `[ToolChoiceError] Cannot call ${toolName}: tool choice requires calling ${choice.function} in this step.`
    )
  }
  return undefined
}

/** Whether the model answered a forced choice in text and the run may re-prompt it once more. */
export const mayReprompt = (agent: Agent.Any, repromptsSoFar: number): boolean => repromptsSoFar < agent.toolChoiceRetries

/** The re-prompt after a text-only answer to a forced choice. */
export const reprompt = (choice: ToolChoice): string =>
  `[This is an automated system message hidden from the user] ToolChoiceViolated: You must call ${describe(choice)} now; answer with a tool call, not text.`

/** Why the run stopped after the last re-prompt. */
export const stopDetail = (choice: ToolChoice, textAnswers: number): string =>
  `the model answered in text ${textAnswers} time(s) in a row although tool choice required calling ${describe(choice)}`

const describe = (choice: ToolChoice): string => (typeof choice === "object" ? choice.function : "a tool")
