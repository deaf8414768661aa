/** Model.streamParts: the end-of-stream check, and no retryable step once a remote tool was seen. */
import { LanguageModel } from "@agentloop/core"
import { FakeHttp } from "@agentloop/testing"
import { Http, Model, Sse } from "@agentloop/wire"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"

const partStream = (url: string, timeouts?: Http.Request["timeouts"]) =>
  Model.streamParts(
    { provider: "test", method: "POST", url, idempotent: true, body: {}, retry: { maxRetries: 0 }, ...(timeouts === undefined ? {} : { timeouts }) } satisfies Http.Request,
    {
      decoder: () => new Sse.Decoder(),
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
  )

const parts = (url: string) => partStream(url).pipe(Stream.runCollect, Effect.provide(NodeHttpClient.layerUndici))

describe("Model.streamParts", () => {
  it.live("a cut stream of an idempotent request is retryable, unless a remote tool call was seen", () =>
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

  it.live("the idle timeout counts only waits for the server: a consumer slower than it does not cut the body", () =>
    Effect.gen(function* () {
      // Frames larger than one 64 KiB read: the body is more reads than the reader may hold ahead.
      const texts = Array.from({ length: 12 }, (_, i) => String(i).repeat(70_000))
      const server = yield* FakeHttp.make(() => ({ sse: [...texts.map((text) => ({ data: { text } })), { data: "[DONE]" }] }))
      const seen: Array<LanguageModel.ResponsePart> = []
      let pauses = 0
      // The first chunks of parts take the consumer longer than the idle timeout; the server is not silent.
      yield* partStream(server.url, { idle: "250 millis" }).pipe(
        Stream.runForEachArray((chunk) => Effect.andThen(Effect.sync(() => seen.push(...chunk)), pauses++ < 2 ? Effect.sleep("700 millis") : Effect.void)),
        Effect.provide(NodeHttpClient.layerUndici)
      )
      expect(seen).toEqual([...texts.map((text) => LanguageModel.textDelta(text)), LanguageModel.finish("stop")])
    }))

  it.live("a consumer slower than the idle timeout does not hide a server that then goes silent: the idle timeout still fires", () =>
    Effect.gen(function* () {
      // More reads than the reader may hold ahead, so it waits for room while the consumer pauses; then the
      // server stops for longer than the test may run.
      const texts = Array.from({ length: 12 }, (_, i) => String(i).repeat(70_000))
      const server = yield* FakeHttp.make(() => ({ sse: [...texts.map((text) => ({ data: { text } })), { data: "[DONE]" }], hostile: { stallAfter: { frames: 12, ms: 60_000 } } }))
      let pauses = 0
      const error = yield* Effect.flip(
        partStream(server.url, { idle: "250 millis" }).pipe(
          Stream.runForEachArray(() => (pauses++ < 2 ? Effect.sleep("700 millis") : Effect.void)),
          Effect.provide(NodeHttpClient.layerUndici)
        )
      )
      // Every part the server sent before going silent was delivered before the failure, and carried by it.
      expect(error).toMatchObject({ reason: "idle-timeout", received: texts.map((text) => LanguageModel.textDelta(text)) })
    }))

  it.live("a step timeout in the middle of the body carries the parts received, and a server that stays silent gets an idle timeout", () =>
    Effect.gen(function* () {
      const trickle = yield* FakeHttp.make(() => ({ sse: [{ data: { text: "a" } }, { data: "[DONE]" }], hostile: { stallAfter: { frames: 1, ms: 5_000 } } }))
      const step = yield* Effect.flip(partStream(trickle.url, { idle: "10 seconds", step: "500 millis" }).pipe(Stream.runCollect, Effect.provide(NodeHttpClient.layerUndici)))
      expect(step).toMatchObject({ reason: "step-timeout", retryable: true, received: [{ _tag: "TextDelta", delta: "a" }] })
      const idle = yield* Effect.flip(partStream(trickle.url, { idle: "300 millis" }).pipe(Stream.runCollect, Effect.provide(NodeHttpClient.layerUndici)))
      expect(idle).toMatchObject({ reason: "idle-timeout", retryable: true, received: [{ _tag: "TextDelta", delta: "a" }] })
    }))
})
