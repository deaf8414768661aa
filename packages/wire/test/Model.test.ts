/** Model.streamParts: the end-of-stream check, and no retryable step once a remote tool was seen. */
import { LanguageModel } from "@agentloop/core"
import { FakeHttp } from "@agentloop/testing"
import { Http, Model, Sse } from "@agentloop/wire"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"

const parts = (url: string) =>
  Model.streamParts(
    { provider: "test", method: "POST", url, idempotent: true, body: {}, retry: { maxRetries: 0 } } satisfies Http.Request,
    {
      decode: (body) => Sse.decodeBytes(body),
      initial: () => ({ done: false }),
      item: (event, state) => {
        if (Sse.isDone(event)) {
          state.done = true
          return []
        }
        const body = JSON.parse(event.data) as { text?: string; remoteCall?: string }
        return body.remoteCall !== undefined
          ? [LanguageModel.remoteToolCall({ id: "r1", name: body.remoteCall, arguments: "{}" })]
          : [LanguageModel.textDelta(body.text ?? "")]
      },
      complete: (state) => state.done,
      end: () => [LanguageModel.finish("stop")]
    }
  ).pipe(Stream.runCollect, Effect.map(Chunk.toArray), Effect.provide(NodeHttpClient.layerUndici))

describe("Model.streamParts", () => {
  it.scopedLive("a cut stream of an idempotent request is retryable, unless a remote tool call was seen", () =>
    Effect.gen(function* () {
      const plain = yield* FakeHttp.make(() => ({ sse: [{ data: { text: "a" } }, { data: { text: "b" } }, { data: "[DONE]" }], dropAfter: 1 }))
      const cut = yield* Effect.flip(parts(plain.url))
      expect(cut).toMatchObject({ reason: "transport", retryable: true, received: [{ _tag: "TextDelta", delta: "a" }] })

      const remote = yield* FakeHttp.make(() => ({ sse: [{ data: { remoteCall: "deploy" } }, { data: { text: "b" } }, { data: "[DONE]" }], dropAfter: 1 }))
      expect(yield* Effect.flip(parts(remote.url))).toMatchObject({ reason: "transport", retryable: false })

      const truncated = yield* FakeHttp.make(() => ({ sse: [{ data: { remoteCall: "deploy" } }, { data: "[DONE]" }], hostile: { truncateAfter: 1 } }))
      expect(yield* Effect.flip(parts(truncated.url))).toMatchObject({ reason: "truncated", retryable: false, received: [{ _tag: "RemoteToolCall" }] })

      const whole = yield* FakeHttp.make(() => ({ sse: [{ data: { text: "a" } }, { data: "[DONE]" }] }))
      expect(yield* parts(whole.url)).toEqual([LanguageModel.textDelta("a"), LanguageModel.finish("stop")])
    }))
})
