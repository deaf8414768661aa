/**
 * Newline-delimited JSON, decoded incrementally from chunks split anywhere. Lenient: a line that is not
 * JSON is kept as `Malformed` (with the text and the reason), never dropped, and never ends the stream.
 * Blank lines are skipped; `\r\n` is accepted. Pure: no I/O.
 *
 * @since 0.1.0
 */
import type { Stream } from "effect"
import { decodeAllWith, decodeBytesWith, decodeWith } from "./Incremental.js"

export type Line =
  | { readonly _tag: "Json"; readonly value: unknown }
  | {
      readonly _tag: "Malformed"
      readonly line: string
      readonly reason: string
      /** The stream ended inside this line (no newline after it): a cut-off stream, not a bad line. */
      readonly unterminated?: true
    }

export class Decoder {
  private buffer = ""

  push(chunk: string): Array<Line> {
    const out: Array<Line> = []
    let newline = chunk.indexOf("\n")
    if (newline === -1) {
      this.buffer += chunk
      return out
    }
    let line = this.buffer + chunk.slice(0, newline)
    let start = 0
    while (true) {
      parseLine(line, out)
      start = newline + 1
      newline = chunk.indexOf("\n", start)
      if (newline === -1) break
      line = chunk.slice(start, newline)
    }
    this.buffer = chunk.slice(start)
    return out
  }

  /** A last line without a trailing newline still counts; if it is not JSON, it is marked `unterminated`. */
  end(): Array<Line> {
    const out: Array<Line> = []
    if (this.buffer.length > 0) {
      parseLine(this.buffer, out)
      const last = out[0]
      if (last !== undefined && last._tag === "Malformed") out[0] = { ...last, unterminated: true }
    }
    this.buffer = ""
    return out
  }
}

const parseLine = (raw: string, out: Array<Line>): void => {
  const line = raw.charCodeAt(raw.length - 1) === 13 /* \r */ ? raw.slice(0, -1) : raw
  if (line.length === 0 || line.trim().length === 0) return
  try {
    out.push({ _tag: "Json", value: JSON.parse(line) })
  } catch (error) {
    out.push({ _tag: "Malformed", line, reason: (error as Error).message })
  }
}

/** Decodes a whole text (for tests and small bodies). */
export const decodeAll: (text: string) => Array<Line> = decodeAllWith(() => new Decoder())

/** Decodes a stream of text chunks. */
export const decode: <E, R>(self: Stream.Stream<string, E, R>) => Stream.Stream<Line, E, R> = decodeWith(() => new Decoder())

/** Decodes a stream of UTF-8 bytes. */
export const decodeBytes: <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<Line, E, R> = decodeBytesWith(() => new Decoder())
