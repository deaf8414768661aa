import { LanguageModel, Message } from "@agentloop/core"
import { ChatCompletions, Http, Retry } from "@agentloop/wire"
import { describe, expect, it } from "vitest"

describe("ChatCompletions", () => {
  it("maps our messages to the wire format (approval answers have no equivalent)", () => {
    const call = Message.toolCall({ id: "c1", name: "get_weather", arguments: '{"city":"Oslo"}' })
    expect(
      ChatCompletions.toMessages([
        Message.system("be brief"),
        Message.user("weather?"),
        Message.assistant("", [call]),
        Message.toolResult({ toolCallId: "c1", toolName: "get_weather", content: "5C", isError: false }),
        { _tag: "ApprovalMessage", toolCallId: "x", toolName: "y", approved: true },
        Message.assistant("It is 5C.")
      ])
    ).toEqual([
      { role: "system", content: "be brief" },
      { role: "user", content: "weather?" },
      { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } }] },
      { role: "tool", tool_call_id: "c1", content: "5C" },
      { role: "assistant", content: "It is 5C." }
    ])
  })

  it("maps all four tool choices", () => {
    expect(["none", "auto", "required"].map((c) => ChatCompletions.toToolChoice(c as LanguageModel.ToolChoice))).toEqual(["none", "auto", "required"])
    expect(ChatCompletions.toToolChoice({ function: "f" })).toEqual({ type: "function", function: { name: "f" } })
  })

  it("assembles tool calls streamed in fragments, and passes text deltas on at once", () => {
    const acc = new ChatCompletions.ChunkAccumulator()
    const parts = [
      { choices: [{ index: 0, delta: { role: "assistant", content: "Let me " } }] },
      { choices: [{ index: 0, delta: { content: "check." } }] },
      { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "get_", arguments: '{"ci' } }] } }] },
      { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { name: "weather", arguments: 'ty":"Oslo"}' } }] } }] },
      { choices: [{ index: 0, delta: { tool_calls: [{ index: 1, id: "call_2", function: { name: "now", arguments: "{}" } }] } }] },
      { choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] },
      { choices: [], usage: { prompt_tokens: 10, completion_tokens: 4, total_tokens: 14 } }
    ].flatMap((c) => acc.push(c))
    expect(parts).toEqual([LanguageModel.textDelta("Let me "), LanguageModel.textDelta("check.")])
    expect(acc.end()).toEqual([
      LanguageModel.toolCall({ id: "call_1", name: "get_weather", arguments: '{"city":"Oslo"}' }),
      LanguageModel.toolCall({ id: "call_2", name: "now", arguments: "{}" }),
      LanguageModel.finish("tool_calls", new Message.Usage({ inputTokens: 10, outputTokens: 4, totalTokens: 14 }))
    ])
  })

  it("reads a whole completion, lenient about missing fields", () => {
    expect(
      ChatCompletions.fromCompletion({
        choices: [{ message: { role: "assistant", content: [{ type: "text", text: "hi" }] }, finish_reason: "length" }]
      })
    ).toEqual([LanguageModel.textDelta("hi"), LanguageModel.finish("length", new Message.Usage({ inputTokens: 0, outputTokens: 0, totalTokens: 0 }))])
    expect(ChatCompletions.fromCompletion({})).toEqual([LanguageModel.finish("other", Message.Usage.empty)])
  })
})

describe("Http.errorMessage and Retry", () => {
  it("finds the provider's message in the shapes providers use", () => {
    expect(Http.errorMessage('{"message":"bad key"}')).toBe("bad key")
    expect(Http.errorMessage('{"error":{"message":"rate limited","type":"x"}}')).toBe("rate limited")
    expect(Http.errorMessage('{"error":"nope"}')).toBe("nope")
    expect(Http.errorMessage('{"detail":[{"loc":["body","messages"],"msg":"field required"}]}')).toBe("body.messages: field required")
    expect(Http.errorMessage("<html>Bad Gateway</html>")).toBe("<html>Bad Gateway</html>")
    expect(Http.errorMessage("")).toBe("(empty body)")
  })

  it("an error quoting a credential header's value (whole, or the key of Bearer <key>) has it replaced; other headers and short values are kept", () => {
    const request = { headers: { Authorization: "Bearer sk-live-0123456789", "X-API-KEY": "hl-key-abcdefgh", "Content-Type": "application/json", "X-Api-Token": "short" } }
    expect(Http.credentialsOf(request)).toEqual(["Bearer sk-live-0123456789", "sk-live-0123456789", "hl-key-abcdefgh"])
    const quoting = Http.modelError("p", "p answered 401: Bearer sk-live-0123456789 and sk-live-0123456789 and hl-key-abcdefgh (application/json, short)", false, { status: 401 })
    const redacted = Http.redactError(Http.credentialsOf(request))(quoting)
    expect(redacted).toMatchObject({ _tag: "ModelError", status: 401, retryable: false, message: "p answered 401: <redacted> and <redacted> and <redacted> (application/json, short)" })
    const clean = Http.modelError("p", "p answered 500: Internal Server Error", true)
    expect(Http.redactError(Http.credentialsOf(request))(clean)).toBe(clean)
  })

  it("retries timeouts, rate limits, overload and server errors only", () => {
    expect([408, 429, 500, 502, 503, 504, 529].every(Retry.isRetryableStatus)).toBe(true)
    expect([400, 401, 403, 404, 409, 422].some(Retry.isRetryableStatus)).toBe(false)
  })
})
