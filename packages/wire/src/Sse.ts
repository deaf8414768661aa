/**
 * Server-sent events, decoded incrementally from text chunks split anywhere (inside a line, between `\r`
 * and `\n` even with empty chunks in between, inside a UTF-8 sequence when fed through `decodeBytes`; a
 * sequence cut by the end of the stream becomes U+FFFD). Pure: no I/O.
 *
 * Accepts `event:x` and `event: x`, multi-line `data`, comments (`:` lines), `id`, `retry`, LF, CRLF and CR
 * line endings and a leading BOM. An event is dispatched at a blank line, or at the end of the stream if
 * the server forgot the final blank line.
 *
 * @since 0.1.0
 */
import type { Stream } from "effect"
import { decodeAllWith, decodeBytesWith, decodeWith } from "./Incremental.js"

export interface SseEvent {
  /** The `event:` field; `message` when absent. */
  readonly event: string
  /** The `data:` lines joined with `\n`. */
  readonly data: string
  readonly id?: string
  readonly retry?: number
}

/** OpenAI-style end marker: `data: [DONE]`. */
export const isDone = (event: SseEvent): boolean => event.data === "[DONE]"

export class Decoder {
  private buffer = ""
  private started = false
  private pendingCR = false
  private event: string | undefined = undefined
  /** The first `data` line, and the others if there are more (most events have exactly one). */
  private data: string | undefined = undefined
  private moreData: Array<string> | undefined = undefined
  private id: string | undefined = undefined
  private retry: number | undefined = undefined

  /** Feeds one chunk; returns the events it completed. */
  push(chunk: string): Array<SseEvent> {
    // An empty chunk changes nothing (in particular, a pending `\r` still waits for its `\n`).
    if (chunk.length === 0) return []
    let text = chunk
    if (!this.started && text.length > 0) {
      this.started = true
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    if (this.pendingCR) {
      // A `\r` ended the previous chunk: a `\n` here belongs to it.
      this.pendingCR = false
      if (text.startsWith("\n")) text = text.slice(1)
    }
    if (text.indexOf("\r") !== -1) {
      // Normalise first (a trailing lone `\r` becomes a line end), then remember it: a `\n` that starts
      // the next chunk completes this CRLF rather than starting a blank line.
      this.pendingCR = text.endsWith("\r")
      text = text.replace(/\r\n?/g, "\n")
    }
    const out: Array<SseEvent> = []
    let start = 0
    let newline = text.indexOf("\n")
    if (newline === -1) {
      this.buffer += text
      return out
    }
    let line = this.buffer + text.slice(0, newline)
    this.buffer = ""
    while (true) {
      this.line(line, out)
      start = newline + 1
      newline = text.indexOf("\n", start)
      if (newline === -1) break
      line = text.slice(start, newline)
    }
    this.buffer = text.slice(start)
    return out
  }

  /** Ends the stream: a last line without a newline, and an event without its blank line, still count. */
  end(): Array<SseEvent> {
    const out: Array<SseEvent> = []
    if (this.buffer.length > 0) this.line(this.buffer, out)
    this.buffer = ""
    this.dispatch(out)
    return out
  }

  private line(line: string, out: Array<SseEvent>): void {
    if (line.length === 0) return this.dispatch(out)
    const first = line.charCodeAt(0)
    if (first === 58 /* : */) return // comment
    // Fast paths for the two fields that make up nearly every event.
    if (first === 100 /* d */ && line.startsWith("data:")) {
      this.addData(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5))
      return
    }
    if (first === 101 /* e */ && line.startsWith("event:")) {
      this.event = line.charCodeAt(6) === 32 ? line.slice(7) : line.slice(6)
      return
    }
    const colon = line.indexOf(":")
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? "" : line.slice(colon + 1)
    if (value.charCodeAt(0) === 32) value = value.slice(1)
    switch (field) {
      case "data":
        this.addData(value)
        return
      case "event":
        this.event = value
        return
      case "id":
        if (value.indexOf("\u0000") === -1) this.id = value
        return
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value)
        return
      default:
        return // unknown fields are ignored, as the spec says
    }
  }

  private addData(value: string): void {
    if (this.data === undefined) this.data = value
    else (this.moreData ??= []).push(value)
  }

  private dispatch(out: Array<SseEvent>): void {
    if (this.data !== undefined) {
      const event: { event: string; data: string; id?: string; retry?: number } = {
        event: this.event === undefined || this.event === "" ? "message" : this.event,
        data: this.moreData === undefined ? this.data : `${this.data}\n${this.moreData.join("\n")}`
      }
      if (this.id !== undefined) event.id = this.id
      if (this.retry !== undefined) event.retry = this.retry
      out.push(event)
    }
    this.event = undefined
    this.data = undefined
    this.moreData = undefined
    this.retry = undefined
  }
}

/** Decodes a whole text (for tests and small bodies). */
export const decodeAll: (text: string) => Array<SseEvent> = decodeAllWith(() => new Decoder())

/** Decodes a stream of text chunks. */
export const decode: <E, R>(self: Stream.Stream<string, E, R>) => Stream.Stream<SseEvent, E, R> = decodeWith(() => new Decoder())

/** Decodes a stream of UTF-8 bytes. */
export const decodeBytes: <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<SseEvent, E, R> = decodeBytesWith(() => new Decoder())
