/**
 * The send buffer of one Streamable HTTP session: the bytes its open responses were given and the client has
 * not taken yet (each response's `writableLength`: Node's buffer and the socket's). The SDK writes every event
 * as it comes and never waits for the client, so a client that keeps a stream open and reads slowly, or never,
 * would make these buffers grow without bound.
 *
 * Every write of a metered response is checked against the session's budget: an event that would take the
 * session's unsent bytes past `maxBytes` is not written, and the streams of the session that are behind (the
 * one written to, and every other one still holding unsent bytes) are cut: ended, and destroyed if they have
 * not drained after `drainTimeoutMs`. An event is always written when nothing is unsent, so an event larger
 * than the budget still reaches a client that keeps up. Hence, per session, unsent bytes never exceed the
 * larger of `maxBytes` and the largest single event. A cut stream's events stay in the replay buffer: the
 * client resumes with `Last-Event-ID`.
 */
import type { ServerResponse } from "node:http"

export interface Limits {
  readonly maxBytes: number
  readonly drainTimeoutMs: number
}

export interface SendBuffer {
  /** Meters the response's writes (before anything is written to it). */
  readonly attach: (response: ServerResponse) => void
  /** The open responses, and their unsent bytes. */
  readonly size: () => { readonly streams: number; readonly bytes: number }
}

type Write = (chunk: string | Uint8Array, encoding?: unknown, callback?: unknown) => boolean
type End = (...args: ReadonlyArray<unknown>) => ServerResponse

interface Metered {
  readonly write: Write
  readonly end: End
  cut: boolean
}

export const make = (limits: Limits): SendBuffer => {
  const open = new Map<ServerResponse, Metered>()

  const unsent = () => {
    let bytes = 0
    for (const response of open.keys()) bytes += response.writableLength
    return bytes
  }

  const cut = (response: ServerResponse, metered: Metered) => {
    if (metered.cut) return
    metered.cut = true
    // A slow client still gets what was queued, then the end of the stream; a stalled one is disconnected.
    metered.end()
    const timer = setTimeout(() => response.destroy(), limits.drainTimeoutMs)
    timer.unref?.()
    response.once("close", () => clearTimeout(timer))
  }

  const attach = (response: ServerResponse) => {
    if (open.has(response)) return
    const metered: Metered = {
      write: response.write.bind(response) as Write,
      end: response.end.bind(response) as End,
      cut: false
    }
    open.set(response, metered)
    response.once("close", () => open.delete(response))
    const write: Write = (chunk, encoding, callback) => {
      if (metered.cut) return true
      const size = typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength
      const before = unsent()
      if (before > 0 && before + size > limits.maxBytes) {
        cut(response, metered)
        for (const [other, state] of open) if (other.writableLength > 0) cut(other, state)
        return true
      }
      metered.write(chunk, encoding, callback)
      // Never ask the writer (the SDK's stream, via @hono/node-server) to wait: what waits is then here,
      // metered, and not in the SDK's own unbounded queue.
      return true
    }
    const end: End = (...args) => (metered.cut ? response : metered.end(...args))
    Object.assign(response, { write, end })
  }

  return {
    attach,
    size: () => ({ streams: open.size, bytes: unsent() })
  }
}
