/**
 * W2: decoding throughput. 50 MB of SSE (`event: message` + a ~300-byte JSON payload) and of NDJSON, fed in
 * 64 KiB chunks; every event's JSON is parsed, so each contender does the same work end to end.
 */
import { LanguageModel } from "@agentloop/core"
import { ChatCompletions, type Http, Model, Ndjson, Sse } from "@agentloop/wire"
import { Array as Arr, Cause, Channel, Effect, Scope, Stream } from "effect"
import { HttpClient, HttpClientResponse } from "effect/http"
import { createParser } from "eventsource-parser"

const CHUNK = 64 * 1024

const payload = (i: number) =>
  JSON.stringify({
    id: `chatcmpl-${i}`,
    object: "chat.completion.chunk",
    created: 1748541138,
    model: "claude-4-sonnet",
    choices: [{ index: 0, delta: { content: `token ${i} `.repeat(14).slice(0, 150) }, finish_reason: null }]
  })

const build = (megabytes: number, frame: (i: number) => string): { text: string; events: number } => {
  const parts: Array<string> = []
  let size = 0
  let events = 0
  while (size < megabytes * 1024 * 1024) {
    const f = frame(events++)
    parts.push(f)
    size += f.length
  }
  return { text: parts.join(""), events }
}

const chunks = (text: string): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < text.length; i += CHUNK) out.push(text.slice(i, i + CHUNK))
  return out
}

export const makeInputs = (megabytes: number) => {
  const sse = build(megabytes, (i) => `event: message\ndata: ${payload(i)}\n\n`)
  const ndjson = build(megabytes, (i) => `${payload(i)}\n`)
  return {
    megabytes: sse.text.length / (1024 * 1024),
    sse: { chunks: chunks(sse.text), events: sse.events },
    ndjson: { chunks: chunks(ndjson.text), events: ndjson.events }
  }
}

/** What an HTTP body delivers: UTF-8 bytes, one `Uint8Array` per 64 KiB read (a sequence may be cut). */
const byteChunks = (text: string): Array<Uint8Array> => {
  const bytes = new TextEncoder().encode(text)
  const out: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += CHUNK) out.push(bytes.slice(i, i + CHUNK))
  return out
}

/** The same bodies as bytes; `parts` is the SSE body with the chat-completions end marker (`data: [DONE]`). */
export const makeByteInputs = (inputs: ReturnType<typeof makeInputs>) => {
  const sse = inputs.sse.chunks.join("")
  return { sse: byteChunks(sse), ndjson: byteChunks(inputs.ndjson.chunks.join("")), parts: byteChunks(`${sse}data: [DONE]\n\n`) }
}

export type Decode<I = string> = (chunks: ReadonlyArray<I>) => number | Promise<number>

/**
 * One stream chunk per 64 KiB read, as an HTTP body arrives through `@effect/platform-node` 4.1: its
 * `HttpClientResponse.stream` (the undici client's and node:http's alike) is `NodeStream.fromReadable`, i.e.
 * `Stream.fromChannel(Channel.fromTransform(...))` whose pull calls `readable.read()` and succeeds with what
 * it got as one array (more reads in the same array only if several were already buffered), with a
 * finalizer on the channel's scope that removes its listeners. This is that pull with the reads arriving one
 * at a time (no `latch.await` between them): no `rechunk` stage, no `Stream.fromArrays` (a `flatMap`
 * sub-stream per chunk), no cheaper or dearer than a fast body.
 */
export const asBody = <I>(input: ReadonlyArray<I>): Stream.Stream<I> =>
  Stream.fromChannel(
    Channel.fromTransform((_, scope) => {
      let next = 0
      const pull = Effect.suspend(() => (next < input.length ? Effect.succeed(Arr.of(input[next++]!)) : Cause.done()))
      return Effect.as(Scope.addFinalizer(scope, Effect.void), pull)
    })
  )

/** The body as `Stream.fromArrays` builds it (what the bench used before, as `Stream.fromChunks`): one sub-stream per chunk. */
export const asBodyFromChunks = <I>(input: ReadonlyArray<I>): Stream.Stream<I> => Stream.fromArrays(...input.map((item) => [item]))

/** A hand-written SSE splitter: blank-line framing, the `data:` line, JSON.parse. The floor to beat. */
const handSse: Decode = (input) => {
  let buffer = ""
  let count = 0
  for (const chunk of input) {
    buffer += chunk
    let end: number
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const data = block.indexOf("data: ")
      if (data !== -1) {
        JSON.parse(block.slice(data + 6))
        count++
      }
    }
  }
  return count
}

/** What every SSE contender does with its events: parse each one's JSON. Returns how many. */
const parseEvents = (events: Iterable<Sse.SseEvent>): number => {
  let count = 0
  for (const event of events) {
    JSON.parse(event.data)
    count++
  }
  return count
}

export const oursSse: Decode = (input) => {
  const decoder = new Sse.Decoder()
  let count = 0
  for (const chunk of input) count += parseEvents(decoder.push(chunk))
  return count + parseEvents(decoder.end())
}

/** The synchronous decoder fed bytes as a body delivers them: a streaming `TextDecoder`, then `Sse.Decoder`. */
export const oursSseBytes: Decode<Uint8Array> = (input) => {
  const text = new TextDecoder()
  const decoder = new Sse.Decoder()
  let count = 0
  for (const bytes of input) count += parseEvents(decoder.push(text.decode(bytes, { stream: true })))
  return count + parseEvents(decoder.push(text.decode())) + parseEvents(decoder.end())
}

/**
 * How a stream is consumed: `callback` as the loop consumes a model's parts (each chunk handled
 * synchronously in the `Stream.runForEachArray` callback, which returns `Effect.void`), or `effect` (the
 * callback returns an `Effect.sync` that handles the chunk), which in Effect 3.22 kept the chunks alive past
 * young-generation collections (see bench/notes.md).
 */
export type Consumer = "callback" | "effect"

const forEachChunk = <A>(stream: Stream.Stream<A>, consumer: Consumer, handle: (chunk: Arr.NonEmptyReadonlyArray<A>) => void) =>
  Effect.runPromise(
    Stream.runForEachArray(
      stream,
      consumer === "callback"
        ? (chunk) => {
            handle(chunk)
            return Effect.void
          }
        : (chunk) => Effect.sync(() => handle(chunk))
    )
  )

/** What the adapters do: the Stream decoder, its events consumed chunk by chunk. */
const consumeSse = async (events: Stream.Stream<Sse.SseEvent>, consumer: Consumer) => {
  let count = 0
  await forEachChunk(events, consumer, (chunk) => void (count += parseEvents(chunk)))
  return count
}
/** The least any Stream consumer of the body pays: the synchronous decoder in the sink's callback, no decoder stage. */
export const sseInCallback: Decode = async (input) => {
  const decoder = new Sse.Decoder()
  let count = 0
  await forEachChunk(asBody(input), "callback", (chunk) => {
    for (const text of chunk) count += parseEvents(decoder.push(text))
  })
  return count + parseEvents(decoder.end())
}

/** The body and the sink alone (returns the expected count: it decodes nothing). */
export const bodyOnly =
  (events: number): Decode =>
  async (input) => {
    let reads = 0
    await forEachChunk(asBody(input), "callback", (chunk) => void (reads += chunk.length))
    return reads === input.length ? events : -1
  }

export const sseStream =
  (decode: typeof Sse.decode, consumer: Consumer = "callback", body: typeof asBody = asBody): Decode =>
  (input) =>
    consumeSse(decode(body(input)), consumer)
export const sseBytesStream =
  (decode: typeof Sse.decodeBytes, consumer: Consumer = "callback"): Decode<Uint8Array> =>
  (input) =>
    consumeSse(decode(asBody(input)), consumer)

const eventsourceParser: Decode = (input) => {
  let count = 0
  const parser = createParser({
    onEvent: (event) => {
      JSON.parse(event.data)
      count++
    }
  })
  for (const chunk of input) parser.feed(chunk)
  return count
}

const handNdjson: Decode = (input) => {
  let buffer = ""
  let count = 0
  for (const chunk of input) {
    buffer += chunk
    let end: number
    while ((end = buffer.indexOf("\n")) !== -1) {
      const line = buffer.slice(0, end)
      buffer = buffer.slice(end + 1)
      if (line.length > 0) {
        JSON.parse(line)
        count++
      }
    }
  }
  return count
}

export const oursNdjson: Decode = (input) => {
  const decoder = new Ndjson.Decoder()
  let count = 0
  for (const chunk of input) count += decoder.push(chunk).length
  return count + decoder.end().length
}

export const oursNdjsonBytes: Decode<Uint8Array> = (input) => {
  const text = new TextDecoder()
  const decoder = new Ndjson.Decoder()
  let count = 0
  for (const bytes of input) count += decoder.push(text.decode(bytes, { stream: true })).length
  return count + decoder.push(text.decode()).length + decoder.end().length
}

const consumeNdjson = async (lines: Stream.Stream<Ndjson.Line>, consumer: Consumer) => {
  let count = 0
  await forEachChunk(lines, consumer, (chunk) => void (count += chunk.length))
  return count
}
export const ndjsonStream =
  (decode: typeof Ndjson.decode, consumer: Consumer = "callback", body: typeof asBody = asBody): Decode =>
  (input) =>
    consumeNdjson(decode(body(input)), consumer)
export const ndjsonBytesStream =
  (decode: typeof Ndjson.decodeBytes, consumer: Consumer = "callback"): Decode<Uint8Array> =>
  (input) =>
    consumeNdjson(decode(asBody(input)), consumer)

// The adapters' part streams: a chat-completions SSE body (as Heroku's ChatModel reads it) to parts ---------

interface ChatState {
  readonly accumulator: ChatCompletions.ChunkAccumulator
  done: boolean
}

/** The same item mapping as `@agentloop/heroku`'s ChatModel: end marker, error events, chunk accumulation. */
const chatOptions: Omit<Model.StreamOptions<Sse.SseEvent, ChatState>, "decoder"> = {
  initial: () => ({ accumulator: new ChatCompletions.ChunkAccumulator(), done: false }),
  item: (event, state) => {
    if (Sse.isDone(event)) {
      state.done = true
      return []
    }
    if (event.event !== "message") return []
    const chunk = JSON.parse(event.data)
    const error = ChatCompletions.errorOf(chunk)
    if (error !== undefined) throw new LanguageModel.ModelError({ provider: "bench", message: error, retryable: false, reason: "provider-error" })
    return state.accumulator.push(chunk)
  },
  complete: (state) => state.done,
  end: (state) => state.accumulator.end()
}

const countDeltas = (parts: Iterable<LanguageModel.ResponsePart>): number => {
  let count = 0
  for (const part of parts) if (part._tag === "TextDelta") count++
  return count
}

/**
 * The synchronous floor's work for the part stream: the same decoding and mapping, fed one read at a time,
 * keeping every part received as `Model.streamParts` must (a failure carries them), and the same
 * end-of-stream check. `end` returns how many text deltas.
 */
const floorParts = () => {
  const text = new TextDecoder()
  const decoder = new Sse.Decoder()
  const state = chatOptions.initial(undefined as never)
  const received: Array<LanguageModel.ResponsePart> = []
  const take = (events: ReadonlyArray<Sse.SseEvent>) => {
    for (const event of events) for (const part of chatOptions.item(event, state)) received.push(part)
  }
  return {
    push: (bytes: Uint8Array) => take(decoder.push(text.decode(bytes, { stream: true }))),
    end: () => {
      take(decoder.push(text.decode()))
      take(decoder.end())
      if (!chatOptions.complete(state)) throw new Error("truncated")
      for (const part of chatOptions.end(state)) received.push(part)
      return countDeltas(received)
    }
  }
}

/** The synchronous floor for the part stream: `floorParts` in a plain loop. */
export const partsFloor: Decode<Uint8Array> = (input) => {
  const parts = floorParts()
  for (const bytes of input) parts.push(bytes)
  return parts.end()
}

/**
 * The least any Stream consumer of the body pays for the part stream: `floorParts` in the sink's callback
 * of the bare body (no `Http.send`, no body guard, no stage of its own).
 */
export const partsInCallback: Decode<Uint8Array> = async (input) => {
  const parts = floorParts()
  await forEachChunk(asBody(input), "callback", (chunk) => {
    for (const bytes of chunk) parts.push(bytes)
  })
  return parts.end()
}

/** An `HttpClient` whose every response is 200 with the given body (the 64 KiB reads, built beforehand). */
const bodyClient = (input: ReadonlyArray<Uint8Array>) =>
  HttpClient.make((request) =>
    Effect.sync(() => {
      const response = HttpClientResponse.fromWeb(request, new Response(null, { status: 200, headers: { "content-type": "text/event-stream" } }))
      return Object.create(response, { stream: { value: asBody(input) } }) as HttpClientResponse.HttpClientResponse
    })
  )

const partsRequest: Http.Request = { provider: "bench", method: "POST", url: "http://127.0.0.1/v1/chat/completions", body: {}, idempotent: true }

/** The part stream's options: Heroku's item mapping over an `Sse.Decoder`. */
const partsOptions: Model.StreamOptions<Sse.SseEvent, ChatState> = { ...chatOptions, decoder: () => new Sse.Decoder() }

/** `Model.streamParts` end to end (send, the body's error mapping, both timeouts, decoding, mapping). */
export const partsStream =
  (streamParts: typeof Model.streamParts): Decode<Uint8Array> =>
  async (input) => {
    let count = 0
    await Effect.runPromise(
      Stream.runForEachArray(streamParts(partsRequest, partsOptions), (parts) => {
        count += countDeltas(parts)
        return Effect.void
      }).pipe(Effect.provideService(HttpClient.HttpClient, bodyClient(input)))
    )
    return count
  }

export const sseContenders: ReadonlyArray<readonly [string, Decode]> = [
  ["hand-written splitter (floor)", handSse],
  ["agentloop Sse.Decoder", oursSse],
  ["agentloop Sse.decode (Stream)", sseStream(Sse.decode)],
  ["eventsource-parser 3.1", eventsourceParser]
]

export const ndjsonContenders: ReadonlyArray<readonly [string, Decode]> = [
  ["hand-written splitter (floor)", handNdjson],
  ["agentloop Ndjson.Decoder", oursNdjson],
  ["agentloop Ndjson.decode (Stream)", ndjsonStream(Ndjson.decode)]
]

/** The same bodies as bytes, the way the adapters read them: the first contender is the synchronous reference. */
export const sseByteContenders: ReadonlyArray<readonly [string, Decode<Uint8Array>]> = [
  ["agentloop TextDecoder + Sse.Decoder (sync)", oursSseBytes],
  ["agentloop Sse.decodeBytes (Stream)", sseBytesStream(Sse.decodeBytes)]
]

export const ndjsonByteContenders: ReadonlyArray<readonly [string, Decode<Uint8Array>]> = [
  ["agentloop TextDecoder + Ndjson.Decoder (sync)", oursNdjsonBytes],
  ["agentloop Ndjson.decodeBytes (Stream)", ndjsonBytesStream(Ndjson.decodeBytes)]
]

/** A chat-completions SSE body to parts (Heroku's ChatModel; Humanloop and Letta build the same way). */
export const partContenders: ReadonlyArray<readonly [string, Decode<Uint8Array>]> = [
  ["same decoding and mapping in a plain loop (sync floor)", partsFloor],
  ["agentloop Model.streamParts (Stream, through Http.send)", partsStream(Model.streamParts)]
]

/**
 * The body through `Http.send` and `Response.streamUntil` alone, no decoding (returns `events` if every read
 * arrived): what the part stream pays for the body's error mapping, idle timeout and step deadline.
 */
export const guardedBody =
  (send: typeof Http.send, events: number): Decode<Uint8Array> =>
  async (input) => {
    let reads = 0
    await Effect.runPromise(
      Effect.flatMap(send(partsRequest), (response) =>
        Stream.runForEachArray(
          response.streamUntil(Date.now() + 600_000, () => new LanguageModel.ModelError({ provider: "bench", message: "step", retryable: false })),
          (chunk) => {
            reads += chunk.length
            return Effect.void
          }
        )
      ).pipe(Effect.provideService(HttpClient.HttpClient, bodyClient(input)))
    )
    return reads === input.length ? events : -1
  }
