/**
 * W2: decoding throughput. 50 MB of SSE (`event: message` + a ~300-byte JSON payload) and of NDJSON, fed in
 * 64 KiB chunks; every event's JSON is parsed, so each contender does the same work end to end.
 */
import { Ndjson, Sse } from "@agentloop/wire"
import { Chunk, Effect, Stream } from "effect"
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

type Decode = (chunks: ReadonlyArray<string>) => number | Promise<number>

/** One stream chunk per 64 KiB read, as an HTTP body arrives (built directly, not by a `rechunk` stage a body lacks). */
const asBody = (input: ReadonlyArray<string>) => Stream.fromChunks(...input.map((text) => Chunk.of(text)))

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

const oursSse: Decode = (input) => {
  const decoder = new Sse.Decoder()
  let count = 0
  for (const chunk of input) {
    for (const event of decoder.push(chunk)) {
      JSON.parse(event.data)
      count++
    }
  }
  for (const event of decoder.end()) {
    JSON.parse(event.data)
    count++
  }
  return count
}

/** What the adapters do: the Stream decoder, its events consumed chunk by chunk. */
const oursSseStream: Decode = async (input) => {
  let count = 0
  await Effect.runPromise(
    Stream.runForEachChunk(Sse.decode(asBody(input)), (events) =>
      Effect.sync(() => {
        for (const event of events) {
          JSON.parse(event.data)
          count++
        }
      })
    )
  )
  return count
}

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

const oursNdjson: Decode = (input) => {
  const decoder = new Ndjson.Decoder()
  let count = 0
  for (const chunk of input) count += decoder.push(chunk).length
  return count + decoder.end().length
}

const oursNdjsonStream: Decode = async (input) => {
  let count = 0
  await Effect.runPromise(Stream.runForEachChunk(Ndjson.decode(asBody(input)), (lines) => Effect.sync(() => void (count += lines.length))))
  return count
}

export const sseContenders: ReadonlyArray<readonly [string, Decode]> = [
  ["hand-written splitter (floor)", handSse],
  ["agentloop Sse.Decoder", oursSse],
  ["agentloop Sse.decode (Stream)", oursSseStream],
  ["eventsource-parser 3.1", eventsourceParser]
]

export const ndjsonContenders: ReadonlyArray<readonly [string, Decode]> = [
  ["hand-written splitter (floor)", handNdjson],
  ["agentloop Ndjson.Decoder", oursNdjson],
  ["agentloop Ndjson.decode (Stream)", oursNdjsonStream]
]
