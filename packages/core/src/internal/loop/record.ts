/**
 * The run record: the mutable working copy of one run (`Working`), its snapshots into a `RunState` (taken
 * whenever the run is stored) and back, and the bookkeeping every phase shares (usage, the rule history, the
 * outcome of a stopped run).
 *
 * @internal
 */
import type { Cause, Deferred, Effect, Schema } from "effect"
import type * as Approval from "../../Approval.js"
import type { ModelError, ModelRequest, StepHandlers, StepResponse, ToolChoice } from "../../LanguageModel.js"
import * as Message from "../../Message.js"
import type * as RunClaim from "../../RunClaim.js"
import { type InFlightCall, type Lease, type RunOutcome, RunState, revisionOf, type StopReason } from "../../RunState.js"
import type { RunStoreError } from "../../RunStore.js"
import type * as Tool from "../../Tool.js"
import type * as CallKey from "../callKey.js"
import type { StepLoop } from "../runStep.js"
import type { Context } from "./context.js"

/** The rest of a run, from wherever it is: its outcome, or why it could not go on. */
export type Rest = Effect.Effect<RunOutcome, ModelError | RunStoreError | RunClaim.RunLeaseLost>

/**
 * How a run takes its model steps: the step loop over its collector and the continuations that receive each
 * step's end, made once per run (again after a handoff, whose agent has a context, and maybe a model, of its
 * own) and kept on the run's working state. Made per step, they would be held by every suspended step and,
 * with thousands of runs in flight, promoted on every step (bench/notes.md, "What a suspended step holds").
 */
export interface ModelSteps {
  readonly ctx: Context
  readonly onAnswer: (ctx: Context, w: Working, response: StepResponse) => Rest
  readonly onFailure: (ctx: Context, w: Working, error: ModelError) => Rest
  readonly loop: StepLoop<ModelRequest, ModelError>
  readonly then: { readonly onFailure: (cause: Cause.Cause<ModelError>) => Rest; readonly onSuccess: (_: void) => Rest }
}

/** The mutable working copy of a run; snapshotted into a `RunState` whenever it is persisted. */
export interface Working {
  readonly runId: string
  readonly messages: Array<Message.Message>
  step: number
  /** The tool-rule history, appended in place (copied only into snapshots): O(1) per call. */
  readonly solver: { readonly history: Array<string>; lastOutput: string | undefined; readonly failed: Array<string> }
  toolChoiceUsed: boolean
  /** The tool choice of the current step, which its calls are checked against (not persisted: see `ToolChoices.afterResume`). */
  choice: ToolChoice
  /** Text-only answers to a forced choice in a row, each re-prompted. */
  choiceReprompts: number
  /** Final answers that failed the agent's output schema, each returned to the model. */
  outputReprompts: number
  /** Sub-agent calls that suspended instead of answering, with the sub-agent's pending approvals (made on first use). */
  suspensions: Map<string, ReadonlyArray<Approval.PendingApproval>> | undefined
  suspendHook: NonNullable<Tool.HandlerContext["suspend"]> | undefined
  queue: Array<Message.ToolCall>
  executedInStep: Array<string>
  pending: Array<Approval.PendingApproval>
  inputTokens: number
  outputTokens: number
  totalTokens: number
  /** Decisions handed to `resume`, consumed as the queued calls are processed. */
  readonly decisions: Map<string, Approval.ApprovalDecision>
  /** The last non-empty text the model produced: the outcome's `text`. */
  lastText: string
  /** The step handlers when nobody observes the run (they depend on the run only): built once. */
  quietHandlers?: StepHandlers
  /** The step handlers when someone observes the run (they read the step when called): built once. */
  observedHandlers?: StepHandlers
  /** How the run takes its model steps, made on its first (`model.ts`). */
  modelSteps?: ModelSteps
  /** The revision this owner last wrote (0: nothing stored yet); every write expects it. */
  revision: number
  /** This owner's claim on the run, and when to renew it (epoch ms; 0 while a renewal is under way). */
  lease: Lease | undefined
  renewAt: number
  /** The renewal under way, which side effects wait for (see `leaseDue`). */
  renewing: Deferred.Deferred<void, RunStoreError | RunClaim.RunLeaseLost> | undefined
  /** Records the results a batch of calls has settled so far, so that a renewal's checkpoint holds them (see `processMany`). */
  checkpoint: (() => void) | undefined
  /** Approved calls handed to their handler without a result yet: stored if the run is interrupted (made on first use). */
  inFlight: Map<string, InFlightCall> | undefined
  /** A model step is under way (if interrupted, the step is taken again on recovery). */
  stepOpen: boolean
  /** The final (or suspended) state is stored: an interruption now has nothing to save. */
  ended: boolean
  /** The agent speaking after a handoff, when it is not the run's own (see `Handoff`). */
  agent: string | undefined
  /** Handoffs taken so far. */
  handoffs: number
  /** Tool-call ids of the run's history, for keys of calls that repeat an id (made after step 1, on first use). */
  callIds: CallKey.SeenIds | undefined
  /** Tool-call ids that handoff filters dropped from `messages` (they still count as used: see `CallKey`). */
  droppedCallIds: ReadonlyArray<string> | undefined
}

/** A new run's record: `messages` as given (with the system prompt first), nothing done yet, nothing stored. */
export const fresh = (runId: string, messages: Array<Message.Message>): Working => ({
  runId,
  messages,
  step: 0,
  solver: { history: [], lastOutput: undefined, failed: [] },
  toolChoiceUsed: false,
  choice: "auto",
  choiceReprompts: 0,
  outputReprompts: 0,
  suspensions: undefined,
  suspendHook: undefined,
  queue: [],
  executedInStep: [],
  pending: [],
  inputTokens: 0,
  outputTokens: 0,
  totalTokens: 0,
  decisions: new Map(),
  lastText: "",
  revision: 0,
  lease: undefined,
  renewAt: Infinity,
  renewing: undefined,
  checkpoint: undefined,
  inFlight: undefined,
  stepOpen: false,
  ended: false,
  agent: undefined,
  handoffs: 0,
  callIds: undefined,
  droppedCallIds: undefined
})

/**
 * An instance of a Schema class made from fields the loop built itself from its own typed state, as the class's
 * decoder makes one: Effect 4's class constructor parses every field even with `disableChecks` (for a state,
 * every message, on every save: a quarter of a 20-step run), where Effect 3's `disableValidation` skipped it.
 */
export const trusted = <P, A>(Class: new (props: P, options?: Schema.MakeOptions) => A, fields: P): A =>
  Object.assign(Object.create(Class.prototype as object) as A & object, fields)

/** A snapshot of the working state: arrays are copied, so later steps never change a saved state. */
export const toState = (w: Working, agent: string, status: RunState["status"], extra?: { outcome?: RunOutcome; error?: string }): RunState =>
  trusted(RunState, {
    version: 1,
    runId: w.runId,
    agent,
    status,
    messages: w.messages.slice(),
    step: w.step,
    toolHistory: w.solver.history.slice(),
    ...(w.solver.lastOutput === undefined ? {} : { lastToolOutput: w.solver.lastOutput }),
    ...(w.solver.failed.length === 0 ? {} : { failedToolCalls: w.solver.failed.slice() }),
    toolChoiceUsed: w.toolChoiceUsed,
    queue: w.queue.slice(),
    executedInStep: w.executedInStep.slice(),
    pending: w.pending.slice(),
    usage: extra?.outcome?.usage ?? usageOf(w),
    ...extra,
    revision: w.revision + 1,
    ...(status === "running" && w.lease !== undefined ? { lease: w.lease } : {}),
    ...(w.inFlight === undefined || w.inFlight.size === 0 ? {} : { inFlight: [...w.inFlight.values()] }),
    ...(w.decisions.size === 0 ? {} : { decisions: [...w.decisions.values()] }),
    ...(w.handoffs === 0 ? {} : w.agent === undefined ? { handoffs: w.handoffs } : { currentAgent: w.agent, handoffs: w.handoffs }),
    ...(w.droppedCallIds === undefined ? {} : { handedOffCallIds: w.droppedCallIds })
  })

export const fromState = (state: RunState): Working => ({
  runId: state.runId,
  messages: [...state.messages],
  step: state.step,
  solver: { history: [...state.toolHistory], lastOutput: state.lastToolOutput, failed: [...(state.failedToolCalls ?? [])] },
  toolChoiceUsed: state.toolChoiceUsed,
  choice: "auto",
  choiceReprompts: 0,
  // Every field set from the start: one object shape per run keeps the loop's property accesses monomorphic.
  outputReprompts: 0,
  suspensions: undefined,
  suspendHook: undefined,
  queue: [...state.queue],
  executedInStep: [...state.executedInStep],
  pending: [...state.pending],
  inputTokens: state.usage.inputTokens,
  outputTokens: state.usage.outputTokens,
  totalTokens: state.usage.totalTokens,
  decisions: new Map(state.decisions?.map((d) => [d.toolCallId, d])),
  lastText: lastAssistantText(state.messages),
  revision: revisionOf(state),
  lease: undefined,
  renewAt: 0,
  renewing: undefined,
  checkpoint: undefined,
  inFlight: state.inFlight === undefined ? undefined : new Map(state.inFlight.map((call) => [call.toolCallId, call])),
  stepOpen: false,
  ended: false,
  agent: state.currentAgent === state.agent ? undefined : state.currentAgent,
  handoffs: state.handoffs ?? 0,
  callIds: undefined,
  droppedCallIds: state.handedOffCallIds
})

const lastAssistantText = (messages: ReadonlyArray<Message.Message>): string => {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!
    if (message._tag === "AssistantMessage" && message.text.length > 0) return message.text
  }
  return ""
}

/**
 * A tool ran (here or at the provider). A success counts in the rule history; a failure only spends
 * max-count budget. `Solver.record` / `Solver.recordFailure`, appended in place.
 */
export const recordTool = (w: Working, toolName: string, output: string, failed: boolean) => {
  if (failed) {
    w.solver.failed.push(toolName)
    return
  }
  w.solver.history.push(toolName)
  w.solver.lastOutput = output
}

/** Usage is summed as plain numbers; a `Usage` is built only when a state or outcome needs one. */
export const addUsage = (w: Working, usage: Message.Usage) => {
  w.inputTokens += usage.inputTokens
  w.outputTokens += usage.outputTokens
  w.totalTokens += usage.totalTokens
}

export const usageOf = (w: Working): Message.Usage =>
  trusted(Message.Usage, { inputTokens: w.inputTokens, outputTokens: w.outputTokens, totalTokens: w.totalTokens })

export const stopped = (w: Working, reason: StopReason, detail: string): RunOutcome => ({
  _tag: "Stopped",
  runId: w.runId,
  reason,
  detail,
  text: w.lastText,
  steps: w.step,
  usage: usageOf(w)
})
