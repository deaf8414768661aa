/**
 * Typed output, as the loop uses it: `"auto"` resolved against the model, the final-answer tool added to the
 * toolkit in `"tool"` mode, and what a step's final-answer calls amount to. The step's verdict is read
 * from the conversation itself (the call and its result), so it survives a suspension with the run state.
 */
import { Effect, Result } from "effect"
import type { ResponseFormat } from "../LanguageModel.js"
import type * as Message from "../Message.js"
import * as Output from "../Output.js"
import type * as Toolkit from "../Toolkit.js"

/** How one runner asks for the output. */
export interface Setup {
  readonly mode: Output.ResolvedMode
  /** Sent with every request (`"response_format"` mode). */
  readonly responseFormat: ResponseFormat | undefined
  /** The final-answer tool's name (`"tool"` mode). */
  readonly toolName: string | undefined
  /** Added to the system prompt (`"text"` mode). */
  readonly instructions: string | undefined
  /** The toolkit the model is offered: the agent's, plus the final-answer tool in `"tool"` mode. */
  readonly toolkit: Toolkit.Resolved
  readonly names: ReadonlyArray<string>
}

/** The setup for `agent` over a model declaring `modelMode`; fails when the final-answer tool's name is taken. */
export const setup = (
  agent: { readonly name: string; readonly output: Output.Spec<unknown> | undefined },
  modelMode: Output.ResolvedMode | undefined,
  toolkit: Toolkit.Resolved,
  names: ReadonlyArray<string>
): Effect.Effect<Setup, Output.InvalidOutput> => {
  const spec = agent.output
  if (spec === undefined) {
    return Effect.succeed({ mode: "response_format", responseFormat: undefined, toolName: undefined, instructions: undefined, toolkit, names })
  }
  const mode = Output.resolveMode(spec, modelMode)
  if (mode !== "tool") {
    return Effect.succeed({
      mode,
      responseFormat: mode === "response_format" ? spec.responseFormat : undefined,
      toolName: undefined,
      instructions: mode === "text" ? Output.instructions(spec) : undefined,
      toolkit,
      names
    })
  }
  const tool = spec.tool
  if (toolkit.tools.has(tool.name)) {
    return Effect.fail(
      new Output.InvalidOutput({ agent: agent.name, tool: tool.name, reason: "has the name of a tool in the agent's toolkit; choose another with outputTool" })
    )
  }
  const tools = new Map(toolkit.tools).set(tool.name, tool)
  const handlers = new Map(toolkit.handlers).set(tool.name, Output.acceptAnswer)
  return Effect.succeed({
    mode,
    responseFormat: undefined,
    toolName: tool.name,
    instructions: undefined,
    toolkit: { tools, handlers, definitions: [...toolkit.definitions, tool.definition] },
    names: [...names, tool.name]
  })
}

/** What the calls of the final-answer tool in the last step amount to. */
export type Verdict =
  | { readonly _tag: "Accepted"; readonly output: unknown; readonly text: string }
  | { readonly _tag: "Rejected"; readonly reason: string }

/**
 * Reads the last step (its assistant message and the results after it): a call whose handler ran is an
 * accepted answer (the last one wins); else a rejected call (bad arguments, a rule) gives its error.
 */
export const verdict = (spec: Output.Spec<unknown>, toolName: string, messages: ReadonlyArray<Message.Message>): Verdict | undefined => {
  let acceptedId: string | undefined
  let rejected: string | undefined
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!
    if (message._tag === "ToolMessage") {
      if (message.toolName !== toolName) continue
      if (!message.isError) acceptedId ??= message.toolCallId
      else rejected ??= message.content
      continue
    }
    if (message._tag !== "AssistantMessage") {
      if (message._tag === "ApprovalMessage") continue
      break
    }
    const call = acceptedId === undefined ? undefined : message.toolCalls.find((c) => c.id === acceptedId)
    if (call !== undefined) {
      const json = spec.fromArguments(parseJson(call.arguments))
      const decoded = spec.decodeUnknown(json)
      if (Result.isSuccess(decoded)) return { _tag: "Accepted", output: decoded.success, text: JSON.stringify(json) }
    }
    break
  }
  return rejected === undefined ? undefined : { _tag: "Rejected", reason: rejected }
}

const parseJson = (text: string): unknown => {
  try {
    return text.trim() === "" ? {} : JSON.parse(text)
  } catch {
    return undefined
  }
}
