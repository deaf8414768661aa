/**
 * A scripted `LanguageModel` for tests: it plays turns in order (text, tool calls, errors, delays, or a
 * function of the request), records every request it receives, and fails the test when the script runs
 * out or when turns are left over at the end.
 *
 * @since 0.1.0
 */
import { LanguageModel, Message } from "@agentloop/core"
import { type Duration, Effect, Layer, Schema, Stream } from "effect"

export interface ScriptedCall {
  readonly name: string
  /** An object is sent as JSON; a string is sent verbatim (to script malformed arguments). */
  readonly args?: unknown
  readonly id?: string
}

export interface ReplyTurn {
  readonly _tag: "Reply"
  /** The text, or its chunks (each becomes one text delta). */
  readonly text: string | ReadonlyArray<string>
  readonly toolCalls: ReadonlyArray<ScriptedCall>
  readonly finishReason?: LanguageModel.FinishReason
  readonly usage?: { readonly inputTokens: number; readonly outputTokens: number }
  /** Wait this long before answering (use with `TestClock`, or real time for concurrency tests). */
  readonly delay?: Duration.Input
}

/**
 * A reply turn's text as its chunks (one text delta each); empty text has no chunks.
 *
 * @since 0.1.0
 */
export const textChunks = (turn: ReplyTurn): ReadonlyArray<string> =>
  typeof turn.text === "string" ? (turn.text.length === 0 ? [] : [turn.text]) : turn.text

/**
 * A scripted call's arguments as the JSON text a model would send: a string verbatim, anything else encoded.
 *
 * @since 0.1.0
 */
export const argumentsText = (call: ScriptedCall): string =>
  typeof call.args === "string" ? call.args : JSON.stringify(call.args ?? {})

export interface ErrorTurn {
  readonly _tag: "Error"
  readonly message: string
  readonly retryable: boolean
}

export interface RespondTurn {
  readonly _tag: "Respond"
  readonly respond: (request: RecordedRequest) => ReplyTurn | ErrorTurn | PartsTurn
}

/** A turn given as exact response parts (remote calls, approval requests, metadata, raw parts, ...). */
export interface PartsTurn {
  readonly _tag: "Parts"
  readonly parts: ReadonlyArray<LanguageModel.ResponsePart>
}

export type Turn = ReplyTurn | ErrorTurn | RespondTurn | PartsTurn

type ReplyOptions = Partial<Pick<ReplyTurn, "finishReason" | "usage" | "delay">>

/** A turn that answers with text only. */
export const text = (value: string | ReadonlyArray<string>, options?: ReplyOptions): ReplyTurn => ({
  _tag: "Reply",
  text: value,
  toolCalls: [],
  ...options
})

/** A turn that calls one tool. */
export const toolCall = (name: string, args?: unknown, options?: ReplyOptions & { readonly id?: string; readonly text?: string }): ReplyTurn =>
  toolCalls([{ name, args, ...(options?.id === undefined ? {} : { id: options.id }) }], options)

/** A turn that calls several tools at once. */
export const toolCalls = (
  calls: ReadonlyArray<ScriptedCall>,
  options?: ReplyOptions & { readonly text?: string }
): ReplyTurn => ({ _tag: "Reply", text: options?.text ?? "", toolCalls: calls, ...withoutText(options) })

const withoutText = (options: (ReplyOptions & { readonly text?: string }) | undefined): ReplyOptions => {
  if (options === undefined) return {}
  const { text: _text, ...rest } = options as ReplyOptions & { text?: string; id?: string }
  delete (rest as { id?: string }).id
  return rest
}

/** A turn whose model call fails with `ModelError`. */
export const error = (message: string, options?: { readonly retryable?: boolean }): ErrorTurn => ({
  _tag: "Error",
  message,
  retryable: options?.retryable ?? false
})

/** A turn of exact response parts; a finish part is added if missing. */
export const parts = (value: ReadonlyArray<LanguageModel.ResponsePart>): PartsTurn => ({ _tag: "Parts", parts: value })

/** A turn computed from the request (e.g. echo back the last tool result). */
export const respond = (fn: (request: RecordedRequest) => ReplyTurn | ErrorTurn | PartsTurn): RespondTurn => ({
  _tag: "Respond",
  respond: fn
})

/** A request as the model received it, normalised for assertions. */
export interface RecordedRequest {
  readonly index: number
  readonly messages: ReadonlyArray<Message.Message>
  /** Names of the tools offered. */
  readonly tools: ReadonlyArray<string>
  readonly toolDefinitions: ReadonlyArray<LanguageModel.ToolDefinition>
  readonly toolChoice: LanguageModel.ToolChoice
  readonly parallelToolCalls: boolean
  /** The typed-output response format, when the agent has one. */
  readonly responseFormat?: LanguageModel.ResponseFormat | undefined
}

/** The script and the run disagree: more requests than turns, or turns never used. */
export class ScriptDrift extends Schema.TaggedError<ScriptDrift>()("ScriptDrift", { reason: Schema.String }) {
  override get message(): string {
    return `Scripted model drift: ${this.reason}`
  }
}

export interface ScriptedModel {
  /** Provides `LanguageModel`. When its scope closes with turns left over, it dies with `ScriptDrift`. */
  readonly layer: Layer.Layer<LanguageModel.LanguageModel>
  /** Provides `LanguageModel` without the leftover check (e.g. for a run that is resumed later). */
  readonly layerUnchecked: Layer.Layer<LanguageModel.LanguageModel>
  readonly service: LanguageModel.Service
  readonly requests: ReadonlyArray<RecordedRequest>
  readonly remaining: number
  /** Fails with `ScriptDrift` if scripted turns were not all used. */
  readonly assertComplete: Effect.Effect<void, ScriptDrift>
}

/** Makes a scripted model. Each call of `streamStep` consumes the next turn. */
export const make = (turns: ReadonlyArray<Turn>): ScriptedModel => {
  const requests: Array<RecordedRequest> = []
  let next = 0
  /** The next turn's parts (after its delay). Both the streaming and the whole-step path use it. */
  const nextParts = (request: LanguageModel.ModelRequest): Effect.Effect<ReadonlyArray<LanguageModel.ResponsePart>, LanguageModel.ModelError> =>
    Effect.suspend(() => {
      const recorded: RecordedRequest = {
        index: requests.length,
        messages: request.messages,
        tools: request.tools.map((t) => t.name),
        toolDefinitions: request.tools,
        toolChoice: request.toolChoice,
        parallelToolCalls: request.parallelToolCalls,
        ...(request.responseFormat === undefined ? {} : { responseFormat: request.responseFormat })
      }
      requests.push(recorded)
      const scripted = turns[next]
      if (scripted === undefined) {
        const last = request.messages[request.messages.length - 1]
        return Effect.die(
          new ScriptDrift({
            reason: `request #${recorded.index + 1} arrived but the script has only ${turns.length} turn(s); ` +
              `last message: ${JSON.stringify(last)}`
          })
        )
      }
      const turnIndex = next++
      const turn = scripted._tag === "Respond" ? scripted.respond(recorded) : scripted
      if (turn._tag === "Error") {
        return Effect.fail(new LanguageModel.ModelError({ message: turn.message, retryable: turn.retryable }))
      }
      const parts =
        turn._tag === "Parts"
          ? turn.parts.some((p) => p._tag === "Finish")
            ? turn.parts
            : [...turn.parts, LanguageModel.finish("stop")]
          : replyParts(turn, turnIndex, request)
      const delay = turn._tag === "Reply" ? turn.delay : undefined
      return delay === undefined ? Effect.succeed(parts) : Effect.as(Effect.sleep(delay), parts)
    })
  const service: LanguageModel.Service = {
    streamStep: (request) => Stream.unwrap(Effect.map(nextParts(request), (parts) => Stream.fromIterable(parts))),
    pushStep: (request, emit) => Effect.map(nextParts(request), emit)
  }
  const assertComplete = Effect.suspend(() =>
    next < turns.length
      ? Effect.fail(new ScriptDrift({ reason: `${turns.length - next} scripted turn(s) were never used (used ${next} of ${turns.length})` }))
      : Effect.void
  )
  const layerUnchecked = Layer.succeed(LanguageModel.LanguageModel, service)
  return {
    service,
    layerUnchecked,
    layer: Layer.effect(
      LanguageModel.LanguageModel,
      Effect.as(
        Effect.addFinalizer(() => Effect.orDie(assertComplete)),
        service
      )
    ),
    get requests() {
      return requests
    },
    get remaining() {
      return turns.length - next
    },
    assertComplete
  }
}

const estimateTokens = (text: string): number => Math.ceil(text.length / 4)

const messageText = (message: Message.Message): string => {
  switch (message._tag) {
    case "AssistantMessage":
      return message.text
    case "ApprovalMessage":
      return message.reason ?? ""
    default:
      return message.content
  }
}

const replyParts = (turn: ReplyTurn, turnIndex: number, request: LanguageModel.ModelRequest): Array<LanguageModel.ResponsePart> => {
  const chunks = textChunks(turn)
  const parts: Array<LanguageModel.ResponsePart> = chunks.map(LanguageModel.textDelta)
  turn.toolCalls.forEach((call, i) => {
    parts.push(
      LanguageModel.toolCall({
        id: call.id ?? `call_${turnIndex + 1}_${i + 1}`,
        name: call.name,
        arguments: argumentsText(call)
      })
    )
  })
  const input = estimateTokens(request.messages.map(messageText).join(""))
  const output = estimateTokens(chunks.join(""))
  const usage = turn.usage ?? { inputTokens: input, outputTokens: output }
  parts.push(
    LanguageModel.finish(
      turn.finishReason ?? (turn.toolCalls.length > 0 ? "tool_calls" : "stop"),
      new Message.Usage({ ...usage, totalTokens: usage.inputTokens + usage.outputTokens })
    )
  )
  return parts
}
