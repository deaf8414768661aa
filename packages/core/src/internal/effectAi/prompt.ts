/**
 * agentloop conversation messages <-> effect/ai `Prompt` (see `EffectAi` for the table).
 *
 * @internal
 */
import * as Prompt from "effect/ai/Prompt"
import * as Message from "../../Message.js"

/** A call's arguments as the provider should see them: the JSON object, `{}` for none or text that is not one. */
export const argumentsValue = (raw: string): unknown => {
  if (raw.trim() === "") return {}
  try {
    const parsed: unknown = JSON.parse(raw)
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? parsed : {}
  } catch {
    return {}
  }
}

/** Arguments as JSON text (a string is taken as the provider's raw argument text). */
export const argumentsText = (params: unknown): string =>
  typeof params === "string" ? params : params === undefined ? "{}" : JSON.stringify(params)

const text = (value: string): Prompt.TextPart => Prompt.makePart("text", { text: value })

/**
 * The conversation as an effect/ai prompt. Approval requests of a provider's own tools and our decisions on
 * them become text (effect/ai's approval parts are resolved by effect/ai itself, as approvals of local tools).
 */
export const toPrompt = (messages: ReadonlyArray<Message.Message>): Prompt.Prompt => {
  const out: Array<Prompt.Message> = []
  const remote = new Set<string>()
  let results: Array<Prompt.ToolMessagePart> | undefined
  const flush = () => {
    if (results !== undefined) out.push(Prompt.makeMessage("tool", { content: results }))
    results = undefined
  }
  for (const message of messages) {
    if (message._tag !== "ToolMessage") flush()
    switch (message._tag) {
      case "SystemMessage":
        out.push(Prompt.makeMessage("system", { content: message.content }))
        break
      case "UserMessage":
        out.push(Prompt.makeMessage("user", { content: [text(message.content)] }))
        break
      case "AssistantMessage": {
        const content: Array<Prompt.AssistantMessagePart> = []
        if (message.text.length > 0) content.push(text(message.text))
        for (const call of message.approvalRequests ?? []) {
          content.push(text(`[asked for approval to run ${call.name} (call ${call.id}) with ${call.arguments || "{}"}]`))
        }
        for (const call of message.toolCalls) {
          if (call.remote === true) remote.add(call.id)
          content.push(
            Prompt.makePart("tool-call", { id: call.id, name: call.name, params: argumentsValue(call.arguments), providerExecuted: call.remote === true })
          )
        }
        out.push(Prompt.makeMessage("assistant", { content }))
        break
      }
      case "ToolMessage":
        ;(results ??= []).push(
          Prompt.makePart("tool-result", {
            id: message.toolCallId,
            name: message.toolName,
            isFailure: message.isError,
            result: message.content,
            providerExecuted: remote.has(message.toolCallId)
          })
        )
        break
      case "ApprovalMessage":
        out.push(
          Prompt.makeMessage("user", {
            content: [
              text(
                `[${message.approved ? "approved" : "denied"}: ${message.toolName} (call ${message.toolCallId})${message.reason === undefined ? "" : `: ${message.reason}`}]`
              )
            ]
          })
        )
        break
    }
  }
  flush()
  return Prompt.fromMessages(out)
}

/** What a tool result says, as text: its model output when it has one, else the result (JSON unless a string). */
export const resultText = (part: { readonly result: unknown; readonly modelOutput?: ReadonlyArray<Prompt.ToolModelOutputPart> | undefined }): string =>
  part.modelOutput !== undefined && part.modelOutput.length > 0
    ? Prompt.toolModelOutputToText(part.modelOutput)
    : typeof part.result === "string"
      ? part.result
      : JSON.stringify(part.result) ?? ""

const fileText = (part: { readonly mediaType: string; readonly fileName?: string | undefined }) =>
  `[${part.mediaType}${part.fileName === undefined ? "" : ` ${part.fileName}`} omitted]`

/**
 * An effect/ai prompt as agentloop messages. Provider-executed results in an assistant message become tool
 * messages after it; an approval response becomes an `ApprovalMessage` for the call it answers.
 */
export const fromPrompt = (prompt: Prompt.Prompt): Array<Message.Message> => {
  const out: Array<Message.Message> = []
  const calls = new Map<string, string>()
  const approvals = new Map<string, string>()
  for (const message of prompt.content) {
    switch (message.role) {
      case "system":
        out.push(Message.system(message.content))
        break
      case "user":
        out.push(Message.user(message.content.map((part) => (part.type === "text" ? part.text : fileText(part))).join("\n")))
        break
      case "assistant": {
        let value = ""
        const toolCalls: Array<Message.ToolCall> = []
        const results: Array<Message.ToolMessage> = []
        for (const part of message.content) {
          switch (part.type) {
            case "text":
              value += part.text
              break
            case "file":
              value += fileText(part)
              break
            case "tool-call":
              calls.set(part.id, part.name)
              toolCalls.push(Message.toolCall({ id: part.id, name: part.name, arguments: argumentsText(part.params), remote: part.providerExecuted }))
              break
            case "tool-result":
              results.push(Message.toolResult({ toolCallId: part.id, toolName: part.name, content: resultText(part), isError: part.isFailure }))
              break
            case "tool-approval-request":
              approvals.set(part.approvalId, part.toolCallId)
              break
            case "reasoning":
              break
          }
        }
        out.push(Message.assistant(value, toolCalls), ...results)
        break
      }
      case "tool":
        for (const part of message.content) {
          if (part.type === "tool-result") {
            out.push(Message.toolResult({ toolCallId: part.id, toolName: part.name, content: resultText(part), isError: part.isFailure }))
          } else {
            const toolCallId = approvals.get(part.approvalId) ?? part.approvalId
            out.push({
              _tag: "ApprovalMessage",
              toolCallId,
              toolName: calls.get(toolCallId) ?? "unknown",
              approved: part.approved,
              ...(part.reason === undefined ? {} : { reason: part.reason })
            })
          }
        }
        break
    }
  }
  return out
}
