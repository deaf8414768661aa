/**
 * The replay buffer of one Streamable HTTP session (the SDK's `EventStore`): every SSE event the session sends
 * is kept, so a client that lost a stream reconnects with `Last-Event-ID` and gets exactly the events it
 * missed on that stream, in order. Bounded in events and bytes: the oldest events go first, so a client that
 * never reconnects (or never reads) cannot grow memory. Event ids carry a random prefix of the session, so an
 * id from another session is unknown here and replays nothing.
 */
import { randomUUID } from "node:crypto"
import type { EventStore } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"

interface Stored {
  readonly id: string
  readonly stream: string
  readonly message: JSONRPCMessage
  readonly bytes: number
}

export interface Bounds {
  readonly maxEvents: number
  readonly maxBytes: number
}

export interface ReplayStore extends EventStore {
  /** Whether the id names an event still held (of this session). */
  readonly knows: (eventId: string) => boolean
  readonly size: () => { readonly events: number; readonly bytes: number }
  /** Drops every event (the session closed). */
  readonly clear: () => void
}

export const make = (bounds: Bounds): ReplayStore => {
  const prefix = randomUUID().replaceAll("-", "")
  // Insertion order is event order: a Map iterates oldest first, and deletes the oldest in O(1).
  const events = new Map<string, Stored>()
  let sequence = 0
  let bytes = 0

  const evict = () => {
    for (const [id, event] of events) {
      if (events.size <= bounds.maxEvents && bytes <= bounds.maxBytes) return
      events.delete(id)
      bytes -= event.bytes
    }
  }

  return {
    storeEvent: (stream, message) => {
      const id = `${prefix}-${++sequence}`
      const size = Buffer.byteLength(JSON.stringify(message)) + stream.length + id.length
      events.set(id, { id, stream, message, bytes: size })
      bytes += size
      evict()
      return Promise.resolve(id)
    },
    getStreamIdForEventId: (eventId) => Promise.resolve(events.get(eventId)?.stream),
    replayEventsAfter: async (lastEventId, { send }) => {
      const last = events.get(lastEventId)
      if (last === undefined) return ""
      // Copied first: sending yields, and new events of the stream are written live, not replayed twice.
      const after: Array<Stored> = []
      let seen = false
      for (const event of events.values()) {
        if (seen && event.stream === last.stream && Object.keys(event.message).length > 0) after.push(event)
        if (event === last) seen = true
      }
      for (const event of after) await send(event.id, event.message)
      return last.stream
    },
    knows: (eventId) => events.has(eventId),
    size: () => ({ events: events.size, bytes }),
    clear: () => {
      events.clear()
      bytes = 0
    }
  }
}
