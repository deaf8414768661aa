import { Ndjson, Sse } from "@agentloop/wire"
import { Chunk, Effect, Stream } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"

/** Splits `text` at the given (sorted, deduplicated) cut points. */
const split = (text: string, cuts: ReadonlyArray<number>): Array<string> => {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b)
  const chunks: Array<string> = []
  let last = 0
  for (const p of points) {
    chunks.push(text.slice(last, p))
    last = p
  }
  chunks.push(text.slice(last))
  return chunks
}

const decodeChunks = <A>(decoder: { push(c: string): Array<A>; end(): Array<A> }, chunks: ReadonlyArray<string>) => [
  ...chunks.flatMap((c) => decoder.push(c)),
  ...decoder.end()
]

const noNewline = fc.string({ maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, " "))
const eventName = fc.stringMatching(/^[a-z][a-z._-]{0,11}$/)
const sseEvent = fc.record({
  event: fc.option(eventName, { nil: undefined }),
  data: fc.array(noNewline, { minLength: 1, maxLength: 4 }),
  id: fc.option(fc.stringMatching(/^[a-z0-9-]{1,8}$/), { nil: undefined }),
  spaced: fc.boolean(),
  comment: fc.boolean()
})

const serialize = (events: ReadonlyArray<fc.RecordValue<any>>, eol: string): string =>
  events
    .map((e) => {
      const sep = (value: string) => (e.spaced || value.startsWith(" ") ? ": " : ":")
      const lines: Array<string> = []
      if (e.comment) lines.push(": keep-alive")
      if (e.event !== undefined) lines.push(`event${sep(e.event)}${e.event}`)
      if (e.id !== undefined) lines.push(`id${sep(e.id)}${e.id}`)
      for (const d of e.data) lines.push(`data${sep(d)}${d}`)
      return lines.join(eol) + eol + eol
    })
    .join("")

describe("Sse.Decoder", () => {
  it("decodes any events, whatever the chunk boundaries and line endings (property)", () => {
    fc.assert(
      fc.property(fc.array(sseEvent, { maxLength: 8 }), fc.constantFrom("\n", "\r\n", "\r"), fc.array(fc.nat(), { maxLength: 12 }), (events, eol, cuts) => {
        const text = serialize(events, eol)
        const decoded = decodeChunks(new Sse.Decoder(), split(text, cuts))
        // As the SSE spec says, the last event id carries over to later events until a new one is set.
        let lastId: string | undefined
        const expected = events.map((e) => {
          if (e.id !== undefined) lastId = e.id
          return { event: e.event ?? "message", data: e.data.join("\n"), ...(lastId === undefined ? {} : { id: lastId }) }
        })
        expect(decoded).toEqual(expected)
      }),
      { numRuns: 400 }
    )
  })

  it("decodes the same events when chunks are empty or single characters, wherever a CR/LF pair falls (property)", () => {
    fc.assert(
      fc.property(
        fc.array(sseEvent, { maxLength: 6 }),
        fc.constantFrom("\n", "\r\n", "\r"),
        fc.array(fc.nat(), { maxLength: 16 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (events, eol, cuts, empties) => {
          const text = serialize(events, eol)
          // Duplicated cut points make empty chunks: the chunking a server's empty writes produce.
          const chunks = split(text, cuts)
          for (const e of empties) chunks.splice(e % (chunks.length + 1), 0, "")
          const expected = decodeChunks(new Sse.Decoder(), [text])
          expect(decodeChunks(new Sse.Decoder(), chunks)).toEqual(expected)
          expect(decodeChunks(new Sse.Decoder(), [...text])).toEqual(expected)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("a CR at the end of a chunk, an empty chunk, then LF is one line end, not two (one event, not two)", () => {
    expect(decodeChunks(new Sse.Decoder(), ["data: a\r", "", "\ndata: b\r\n\r\n"])).toEqual([{ event: "message", data: "a\nb" }])
    expect(decodeChunks(new Sse.Decoder(), ["data: a\r", "", "", "\n", "\r", "\n"])).toEqual([{ event: "message", data: "a" }])
  })

  it("a UTF-8 sequence cut by the end of the stream becomes U+FFFD; bytes fed one at a time decode the same (property)", async () => {
    const cut = new TextEncoder().encode("data: caf\u00e9 \u{1F30D}")
    const truncated = cut.slice(0, cut.length - 2) // inside the 4-byte emoji
    const events = await Effect.runPromise(Stream.runCollect(Sse.decodeBytes(Stream.fromIterable([truncated]))))
    expect(Chunk.toArray(events)).toEqual([{ event: "message", data: "caf\u00e9 \uFFFD" }])
    await fc.assert(
      fc.asyncProperty(fc.array(sseEvent, { maxLength: 4 }), fc.constantFrom("\n", "\r\n", "\r"), fc.array(fc.nat(), { maxLength: 10 }), async (events, eol, cuts) => {
        const text = `\uFEFF${serialize(events, eol).replace(/x/g, "\u00e9\u{1F30D}")}`
        const bytes = new TextEncoder().encode(text)
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
        const byteChunks: Array<Uint8Array> = []
        let last = 0
        for (const p of [...points, bytes.length]) {
          byteChunks.push(bytes.slice(last, p))
          last = p
        }
        const oneByOne = [...bytes].map((b) => Uint8Array.of(b))
        const expected = Sse.decodeAll(text)
        const run = (input: Array<Uint8Array>) => Effect.runPromise(Stream.runCollect(Sse.decodeBytes(Stream.fromIterable(input)))).then(Chunk.toArray)
        expect(await run(byteChunks)).toEqual(expected)
        expect(await run(oneByOne)).toEqual(expected)
      }),
      { numRuns: 100 }
    )
  })

  it("handles Heroku's agents transcript (no space after the colon) and [DONE]", () => {
    const transcript =
      'event:message\ndata:{"object":"chat.completion","choices":[]}\n\nevent:message\ndata:{"object":"tool.completion"}\n\nevent:done\ndata:[DONE]\n\n'
    const events = Sse.decodeAll(transcript)
    expect(events.map((e) => e.event)).toEqual(["message", "message", "done"])
    expect(JSON.parse(events[1]!.data)).toEqual({ object: "tool.completion" })
    expect(Sse.isDone(events[2]!)).toBe(true)
  })

  it("keeps an event whose final blank line never came, strips a BOM, ignores unknown fields, reads retry", () => {
    expect(Sse.decodeAll("\uFEFFevent: a\nfoo: bar\nretry: 3000\ndata: x")).toEqual([{ event: "a", data: "x", retry: 3000 }])
    expect(Sse.decodeAll("event: only-a-name\n\n")).toEqual([]) // no data: nothing to dispatch
    expect(Sse.decodeAll("data\n\n")).toEqual([{ event: "message", data: "" }])
  })

  it("decodes UTF-8 bytes split inside a multi-byte character", async () => {
    const bytes = new TextEncoder().encode('data: {"text":"héllo 🌍"}\n\n')
    const chunks = [bytes.slice(0, 18), bytes.slice(18, 21), bytes.slice(21)]
    const events = await Effect.runPromise(Stream.runCollect(Sse.decodeBytes(Stream.fromIterable(chunks))))
    expect(JSON.parse(Chunk.toArray(events)[0]!.data)).toEqual({ text: "héllo 🌍" })
  })
})

describe("Ndjson.Decoder", () => {
  const jsonValue = fc.jsonValue().filter((v) => v !== undefined)
  const lineItem = fc.oneof(
    { weight: 4, arbitrary: jsonValue.map((value) => ({ kind: "json" as const, value })) },
    { weight: 1, arbitrary: fc.constantFrom("{not json", "[1,", "hello world").map((line) => ({ kind: "bad" as const, line })) },
    { weight: 1, arbitrary: fc.constant({ kind: "blank" as const }) }
  )

  it("decodes every line whatever the chunking; malformed lines are kept, blank ones skipped (property)", () => {
    fc.assert(
      fc.property(fc.array(lineItem, { maxLength: 12 }), fc.constantFrom("\n", "\r\n"), fc.boolean(), fc.array(fc.nat(), { maxLength: 12 }), (items, eol, trailing, cuts) => {
        const lines = items.map((i) => (i.kind === "json" ? JSON.stringify(i.value) : i.kind === "bad" ? i.line : ""))
        const text = lines.join(eol) + (trailing ? eol : "")
        const decoded = decodeChunks(new Ndjson.Decoder(), split(text, cuts))
        const expected = items
          .filter((i) => i.kind !== "blank")
          // What survives JSON text (e.g. -0 becomes 0).
          .map((i) => (i.kind === "json" ? { _tag: "Json", value: JSON.parse(JSON.stringify(i.value)) } : { _tag: "Malformed", line: i.line }))
        expect(decoded.map((d) => (d._tag === "Json" ? d : { _tag: d._tag, line: d.line }))).toEqual(expected)
      }),
      { numRuns: 400 }
    )
  })

  it("a last line cut mid-JSON is marked unterminated; a complete last line without a newline is not", () => {
    expect(Ndjson.decodeAll('{"a":1}\n{"b":')).toEqual([{ _tag: "Json", value: { a: 1 } }, expect.objectContaining({ _tag: "Malformed", line: '{"b":', unterminated: true })])
    expect(Ndjson.decodeAll('{"a":1}\n{"b":2}')).toEqual([{ _tag: "Json", value: { a: 1 } }, { _tag: "Json", value: { b: 2 } }])
    expect(Ndjson.decodeAll("{oops\n")[0]).not.toHaveProperty("unterminated")
  })

  it("a malformed line says why, and decoding goes on", () => {
    const lines = Ndjson.decodeAll('{"type":"a"}\n{oops\n{"type":"b"}\n')
    expect(lines[0]).toEqual({ _tag: "Json", value: { type: "a" } })
    expect(lines[1]).toMatchObject({ _tag: "Malformed", line: "{oops" })
    expect((lines[1] as { reason: string }).reason.length).toBeGreaterThan(0)
    expect(lines[2]).toEqual({ _tag: "Json", value: { type: "b" } })
  })
})
