import { Incremental, Ndjson, Sse } from "@agentloop/wire"
import { Effect, Stream } from "effect"
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

/** Splits `bytes` at the given cut points, with an empty read inserted at each of `empties`. */
const byteCuts = (bytes: Uint8Array, cuts: ReadonlyArray<number>, empties: ReadonlyArray<number> = []): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y)
  const out: Array<Uint8Array> = []
  let last = 0
  for (const p of [...points, bytes.length]) {
    out.push(bytes.slice(last, p))
    last = p
  }
  for (const e of empties) out.splice(e % (out.length + 1), 0, new Uint8Array(0))
  return out
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
    expect(events).toEqual([{ event: "message", data: "caf\u00e9 \uFFFD" }])
    await fc.assert(
      fc.asyncProperty(fc.array(sseEvent, { maxLength: 4 }), fc.constantFrom("\n", "\r\n", "\r"), fc.array(fc.nat(), { maxLength: 10 }), async (events, eol, cuts) => {
        const text = `\uFEFF${serialize(events, eol).replace(/x/g, "\u00e9\u{1F30D}")}`
        const bytes = new TextEncoder().encode(text)
        const byteChunks = byteCuts(bytes, cuts)
        const oneByOne = [...bytes].map((b) => Uint8Array.of(b))
        const expected = Sse.decodeAll(text)
        const run = (input: Array<Uint8Array>) => Effect.runPromise(Stream.runCollect(Sse.decodeBytes(Stream.fromIterable(input))))
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
    expect(JSON.parse(events[0]!.data)).toEqual({ text: "héllo 🌍" })
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

describe("the Stream decoders equal the synchronous decoders", () => {
  /**
   * Text with multi-byte UTF-8 (2, 3 and 4 bytes, the 4-byte one a surrogate pair in UTF-16), in values only:
   * no field name (`event`, `data`, `id`, `retry`) has an x, y or z.
   */
  const wide = (text: string) => text.replace(/x/g, "\u00e9").replace(/y/g, "\u4e2d").replace(/[z~ ]/g, "\u{1F30D}")
  /** Several reads per stream chunk too (a stream may batch them): `groups` cuts the list of reads. */
  const asStream = <A>(items: ReadonlyArray<A>, groups: ReadonlyArray<number>) => {
    const points = [...new Set(groups.map((g) => g % (items.length + 1)))].sort((x, y) => x - y)
    const chunks: Array<Array<A>> = []
    let last = 0
    for (const p of [...points, items.length]) {
      chunks.push(items.slice(last, p))
      last = p
    }
    return Stream.fromArrays(...chunks)
  }
  const collect = <A>(stream: Stream.Stream<A>) => Effect.runPromise(Stream.runCollect(stream))
  const cuts = fc.array(fc.nat(), { maxLength: 24 })
  const few = fc.array(fc.nat(), { maxLength: 4 })

  it("Sse.decodeBytes and Sse.decode: the events of the whole text, for any chunking of its bytes or characters, multi-byte UTF-8 split anywhere (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(sseEvent, { maxLength: 6 }), fc.constantFrom("\n", "\r\n", "\r"), fc.boolean(), cuts, few, few, async (events, eol, bom, at, empties, groups) => {
        const text = `${bom ? "\uFEFF" : ""}${wide(serialize(events, eol))}`
        const bytes = new TextEncoder().encode(text)
        const expected = Sse.decodeAll(text)
        expect(await collect(Sse.decodeBytes(asStream(byteCuts(bytes, at, empties), groups)))).toEqual(expected)
        // Text cut anywhere, inside a surrogate pair and between CR and LF included.
        const chars = split(text, at)
        expect(await collect(Sse.decode(asStream(chars, groups)))).toEqual(expected)
        expect(decodeChunks(new Sse.Decoder(), chars)).toEqual(expected)
      }),
      { numRuns: 300 }
    )
  })

  it("Ndjson.decodeBytes and Ndjson.decode: the lines of the whole text, for any chunking, multi-byte UTF-8 split anywhere (property)", async () => {
    const item = fc.oneof(
      { weight: 4, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value === undefined ? null : value)) },
      { weight: 1, arbitrary: fc.constantFrom('{"t":"xyz"', "[1,", "xyz") },
      { weight: 1, arbitrary: fc.constant("") }
    )
    await fc.assert(
      fc.asyncProperty(fc.array(item, { maxLength: 10 }), fc.constantFrom("\n", "\r\n"), fc.boolean(), cuts, few, few, async (lines, eol, trailing, at, empties, groups) => {
        const text = wide(lines.join(eol) + (trailing ? eol : ""))
        const bytes = new TextEncoder().encode(text)
        const expected = Ndjson.decodeAll(text)
        expect(await collect(Ndjson.decodeBytes(asStream(byteCuts(bytes, at, empties), groups)))).toEqual(expected)
        expect(await collect(Ndjson.decode(asStream(split(text, at), groups)))).toEqual(expected)
      }),
      { numRuns: 300 }
    )
  })

  it("bytes cut inside a UTF-8 sequence by the end of the body: U+FFFD at the end only, whatever the chunking (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(sseEvent, { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 3 }), cuts, few, async (events, drop, at, groups) => {
        // The body ends inside the last 4-byte character (no final blank line: the event is still dispatched).
        const text = wide(`${serialize(events, "\n")}data:z`)
        const whole = new TextEncoder().encode(text)
        const bytes = whole.slice(0, whole.length - drop)
        const expected = Sse.decodeAll(new TextDecoder().decode(bytes))
        expect(expected.at(-1)?.data).toBe("\uFFFD")
        expect(await collect(Sse.decodeBytes(asStream(byteCuts(bytes, at, []), groups)))).toEqual(expected)
        const ndjson = new TextEncoder().encode(wide('{"a":"xyz"}\n{"b":"z'))
        const cut = ndjson.slice(0, ndjson.length - drop)
        const lines = await collect(Ndjson.decodeBytes(asStream(byteCuts(cut, at, []), groups)))
        expect(lines).toEqual(Ndjson.decodeAll(new TextDecoder().decode(cut)))
        expect(lines.at(-1)).toMatchObject({ _tag: "Malformed", line: '{"b":"\uFFFD', unterminated: true })
      }),
      { numRuns: 200 }
    )
  })

  it("Incremental.decodeUtf8: the text of the bytes, however they are cut (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 40 }), cuts, few, few, async (raw, at, empties, groups) => {
        const bytes = new TextEncoder().encode(wide(raw))
        const text = (await collect(Incremental.decodeUtf8(asStream(byteCuts(bytes, at, empties), groups)))).join("")
        expect(text).toBe(new TextDecoder().decode(bytes))
      }),
      { numRuns: 200 }
    )
  })
})
