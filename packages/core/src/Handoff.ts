/**
 * Handoffs: a tool (`transfer_to_<agent>`) that transfers the conversation to another agent. When the model
 * calls it, the call's result tells it who takes over, and the run goes on with the TARGET's instructions,
 * toolkit, rules, tool choice and output schema, over the same history, passed through the handoff's
 * optional `inputFilter` (pure: messages in, messages out). The OpenAI Agents SDK's semantics.
 *
 * ```ts
 * import { Agent, Handoff, Tool, Toolkit } from "@agentloop/core"
 * import { Schema } from "effect"
 *
 * const Refund = Tool.make("refund", { description: "Refund an order.", parameters: { orderId: Schema.String }, success: Schema.String })
 * const billing = Agent.make({ name: "billing", instructions: "You handle invoices.", toolkit: Toolkit.make(Refund) })
 * export const triage = Agent.make({
 *   name: "triage",
 *   toolkit: Toolkit.make(),
 *   handoffs: [Handoff.make(billing, { description: "Invoices and refunds", inputFilter: Handoff.removeToolCalls })]
 * })
 * // AgentBackend.layerLocal(triage) requires billing's `refund` handler too.
 * ```
 *
 * - The handoff call is a tool call like any other: tool rules, tool choice and approvals apply to it.
 * - If the model calls several handoffs in one step, the first (in call order) is taken; the others get an
 *   error result. Other tools called in that step run as usual; the switch happens once all have results.
 * - After the switch the target's rule history starts fresh (its `init` rules apply to its first call), its
 *   forced tool choice applies anew, and the history's leading system message, whatever it was, is replaced
 *   by the target's instructions.
 * - The run's budget stays the starting agent's: its `maxSteps`, `stopWhen` and `maxHandoffs` (default 10,
 *   then `Stopped { reason: "max_handoffs" }`), and no handoff resets it: steps and handoffs are counted for
 *   the whole run, and every call made so far spends the max-count budgets of the rules (`restartRules`).
 * - The built-in filters skip the loop's re-prompts (`Message.isReprompt`): `lastUserMessage` is the
 *   customer's newest request, never a "[This is an automated system message …]" correction.
 * - The speaking agent is stored in the run state (`RunState.currentAgent`), so a run that suspends after a
 *   handoff resumes with the target, in this process or another.
 * - Targets may be given lazily (`(): Handoff.Target => agent`) so that agents can hand back to each other; every agent
 *   reachable from the runner's agent is resolved, validated and bound to its handlers once, when the runner
 *   (the backend's layer) is built.
 *
 * @since 0.1.0
 */
import { Effect, Result, Schema } from "effect"
import type * as Agent from "./internal/agent.js"
import type { Handoff, HandoffNeeds, HandoffOptions as Options, HandoffTarget as Target, InputFilter } from "./internal/agent.js"
import * as Message from "./Message.js"
import * as Tool from "./Tool.js"
import * as Toolkit from "./Toolkit.js"

export type {
  Handoff,
  HandoffAny as Any,
  HandoffOptions as Options,
  HandoffRequirements as Requirements,
  HandoffTarget as Target,
  InputFilter
} from "./internal/agent.js"

/**
 * A handoff to `target`. Give a function (`(): Handoff.Target => agent`) to refer to an agent defined later
 * (a hand back); its handlers are then checked when the runner is built rather than by the compiler.
 */
export const make: {
  <Tools extends Record<string, Tool.Any>, A, R>(target: Agent.Agent<Tools, A, R>, options?: Options): Handoff<HandoffNeeds<Tools, R>>
  (target: () => Target, options?: Options): Handoff<never>
} = (target: Target | (() => Target), options: Options = {}): Handoff<never> => ({
  _tag: "Handoff",
  target: (typeof target === "function" ? target : () => target) as () => Agent.Any,
  options
})

/** The default tool name for a handoff to `agentName`. */
export const toolNameFor = (agentName: string): string => `transfer_to_${agentName.replace(/[^A-Za-z0-9_-]/g, "_")}`.slice(0, 64)

/** The result the model sees for the handoff call that was taken (the OpenAI Agents SDK's wording). */
export const transferResult = (to: string): string => JSON.stringify({ assistant: to })

// ---------------------------------------------------------------------------------------------------------
// Input filters

/**
 * Drops tool calls, tool results, approval answers and the loop's re-prompts (`Message.isReprompt`: they correct
 * the source's use of its tools); assistant messages left empty are dropped too.
 */
export const removeToolCalls: InputFilter = (messages) => {
  const kept: Array<Message.Message> = []
  for (const message of messages) {
    if (message._tag === "ToolMessage" || message._tag === "ApprovalMessage" || Message.isReprompt(message)) continue
    if (message._tag === "AssistantMessage") {
      if (message.text.length > 0) kept.push(Message.assistant(message.text))
      continue
    }
    kept.push(message)
  }
  return kept
}

/** Only the newest user turn (the loop's re-prompts are not turns): the target starts afresh on the request. */
export const lastUserMessage: InputFilter = (messages) => {
  const at = Message.lastUserTurn(messages)
  return at < 0 ? [] : [messages[at]!]
}

/** Applies filters left to right. */
export const compose = (...filters: ReadonlyArray<InputFilter>): InputFilter => (messages) => filters.reduce((acc, filter) => filter(acc), messages)

// ---------------------------------------------------------------------------------------------------------
// Resolution (used by `Loop.makeRunner`)

/** Some agent's handoffs cannot work: named per agent, each with the reason. Raised when the runner is built. */
export class InvalidHandoffs extends Schema.TaggedError<InvalidHandoffs>()("InvalidHandoffs", {
  /** The agent the runner was built for. */
  agent: Schema.String,
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `Agent "${this.agent}": invalid handoffs: ${this.problems.join("; ")}`
  }
}

/** One handoff of one agent, resolved. */
export interface Route {
  readonly tool: string
  readonly to: string
  readonly inputFilter: InputFilter | undefined
}

/** An agent reachable from the runner's agent, as it runs in that runner's runs. */
export interface Node {
  /**
   * The agent with its handoff tools merged into its toolkit, and the run's budget (`maxSteps`, `stopWhen`,
   * `maxHandoffs`) taken from the runner's agent.
   */
  readonly agent: Agent.Any
  /** The agent as defined: its own toolkit, whose handlers the context must hold. */
  readonly source: Agent.Any
  /** Handoff tool name -> route. */
  readonly routes: ReadonlyMap<string, Route>
  /** The handoff tools, and the handler of each (the transfer itself is the loop's). */
  readonly tools: ReadonlyArray<{ readonly tool: Tool.Any; readonly handler: Tool.AnyHandlerFn }>
}

/** Every agent reachable from the runner's agent through handoffs, by name (the runner's own included). */
export interface Graph {
  readonly root: string
  readonly nodes: ReadonlyMap<string, Node>
}

const Parameters = {}

const isAgent = (value: unknown): value is Agent.Any =>
  typeof value === "object" && value !== null && typeof (value as Agent.Any).name === "string" && typeof (value as Agent.Any).toolkit === "object"

/**
 * Resolves and checks every agent reachable from `root`: targets that are not agents (or whose function
 * throws), two different agents with one name, tool names that are invalid or clash with the agent's tools
 * or other handoffs. Pure.
 */
export const resolve = (root: Agent.Any): Result.Result<Graph, InvalidHandoffs> => {
  const problems: Array<string> = []
  const agents = new Map<string, Agent.Any>([[root.name, root]])
  const nodes = new Map<string, Node>()
  const queue: Array<Agent.Any> = [root]
  while (queue.length > 0) {
    const agent = queue.shift()!
    const routes = new Map<string, Route>()
    const tools: Array<{ tool: Tool.Any; handler: Tool.AnyHandlerFn }> = []
    agent.handoffs.forEach((handoff, index) => {
      const where = `agent "${agent.name}", handoff ${index}`
      let target: unknown
      try {
        target = handoff.target()
      } catch (error) {
        problems.push(`${where}: its target could not be read (${error instanceof Error ? error.message : String(error)})`)
        return
      }
      if (!isAgent(target)) {
        problems.push(`${where}: its target is not an agent (got ${target === undefined ? "undefined" : typeof target}; define the target first, or give a function)`)
        return
      }
      const known = agents.get(target.name)
      if (known !== undefined && known !== target) {
        problems.push(`${where}: two different agents are named "${target.name}" (an agent's name identifies it in stored runs)`)
        return
      }
      if (known === undefined) {
        agents.set(target.name, target)
        queue.push(target)
      }
      const name = handoff.options.name ?? toolNameFor(target.name)
      if (!Tool.validName.test(name)) return void problems.push(`${where}: tool name "${name}" must match ${Tool.validName.source}`)
      if (agent.toolkit.tools[name] !== undefined) return void problems.push(`${where}: tool name "${name}" is already a tool of the agent`)
      if (routes.has(name)) return void problems.push(`${where}: tool name "${name}" is used by another of its handoffs`)
      const tool = Tool.make(name, {
        description: handoff.options.description ?? `Hand off to the ${target.name} agent to handle the request.`,
        parameters: Parameters,
        success: Schema.String,
        requiresApproval: handoff.options.requiresApproval ?? false
      })
      const result = Effect.succeed(transferResult(target.name))
      routes.set(name, { tool: name, to: target.name, inputFilter: handoff.options.inputFilter })
      tools.push({ tool, handler: () => result })
    })
    nodes.set(agent.name, { agent, source: agent, routes, tools })
  }
  if (problems.length > 0) return Result.fail(new InvalidHandoffs({ agent: root.name, problems }))
  for (const [name, node] of nodes) nodes.set(name, { ...node, agent: asRunBy(node, root) })
  return Result.succeed({ root: root.name, nodes })
}

/** The agent as it runs in a run of `root`: its handoff tools in its toolkit, and the run's budget. */
const asRunBy = (node: Node, root: Agent.Any): Agent.Any => {
  const source = node.source
  const toolkit = node.tools.length === 0 ? source.toolkit : Toolkit.merge(source.toolkit, Toolkit.make(...node.tools.map((t) => t.tool)) as Toolkit.Any)
  return { ...source, toolkit, maxSteps: root.maxSteps, stopWhen: root.stopWhen, maxHandoffs: root.maxHandoffs }
}

/** A resolved toolkit with the node's handoff tools (and their handlers) added. */
export const withHandoffTools = (resolved: Toolkit.Resolved, node: Node): Toolkit.Resolved => {
  if (node.tools.length === 0) return resolved
  const tools = new Map(resolved.tools)
  const handlers = new Map(resolved.handlers)
  for (const { handler, tool } of node.tools) {
    tools.set(tool.name, tool)
    handlers.set(tool.name, handler)
  }
  return { tools, handlers, definitions: [...resolved.definitions, ...node.tools.map((t) => t.tool.definition)] }
}

/**
 * A handoff call that another handoff call of the same step came before: the error result it gets (only the
 * first handoff of a step is taken). Looks the call's step up in the history; `undefined` for the first.
 */
export const superseded = (routes: ReadonlyMap<string, Route>, messages: ReadonlyArray<Message.Message>, callId: string): Toolkit.Execution | undefined => {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!
    if (message._tag !== "AssistantMessage") continue
    const index = message.toolCalls.findIndex((call) => call.id === callId)
    if (index < 0) continue
    const first = message.toolCalls.find((call) => routes.has(call.name))
    if (first === undefined || first.id === callId) return undefined
    return Toolkit.errorResult("RuleViolation", `Only one handoff per step is carried out: ${first.name} was called first, so this call is ignored.`)
  }
  return undefined
}

/** The handoff the step's executed tools include (the first in call order), with its call id. */
export const taken = (
  routes: ReadonlyMap<string, Route>,
  executed: ReadonlyArray<string>,
  messages: ReadonlyArray<Message.Message>
): { readonly route: Route; readonly toolCallId: string } | undefined => {
  if (!executed.some((name) => routes.has(name))) return undefined
  // The successful result of a handoff call in this step (the others got error results).
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!
    if (message._tag === "AssistantMessage") break
    if (message._tag === "ToolMessage" && !message.isError && routes.has(message.toolName)) {
      return { route: routes.get(message.toolName)!, toolCallId: message.toolCallId }
    }
  }
  return undefined
}

/**
 * The history the target gets: the leading system message, whatever it says (the source's prompt, one the
 * caller supplied, or a stored run's older prompt), is replaced by the target's instructions (or dropped when
 * the target has none), and the rest goes through the filter. Fails with the reason when the filter throws.
 * `from` is not read: the source's prompt need not match for the target's to apply.
 */
export const transfer = (
  messages: ReadonlyArray<Message.Message>,
  _from: { readonly system: string },
  to: { readonly system: string },
  filter: InputFilter | undefined
): Result.Result<Array<Message.Message>, string> => {
  const rest = messages[0]?._tag === "SystemMessage" ? messages.slice(1) : messages
  let kept: ReadonlyArray<Message.Message>
  try {
    kept = filter === undefined ? rest : filter(rest)
  } catch (error) {
    return Result.fail(`the handoff's input filter threw: ${error instanceof Error ? error.message : String(error)}`)
  }
  if (!Array.isArray(kept)) return Result.fail("the handoff's input filter did not return an array of messages")
  return Result.succeed(to.system.length > 0 ? [Message.system(to.system), ...kept] : [...kept])
}

/**
 * What a handoff does to the rule solver's state (`ToolRuleSolver.State`, in place): the target's rule history
 * starts fresh (its `init` rules apply to its first call, ordering rules look at its own calls), but every call
 * made so far keeps spending the run's max-count budgets: the history moves to `failed`, the calls that count
 * toward budgets only. So a budget holds across any number of handoffs (`maxCountPerStep("refund", 1)` allows
 * one refund in the run, however often billing gets the conversation back).
 */
export const restartRules = (solver: { readonly history: Array<string>; lastOutput: string | undefined; readonly failed: Array<string> }): void => {
  for (const name of solver.history) solver.failed.push(name)
  solver.history.length = 0
  solver.lastOutput = undefined
}
