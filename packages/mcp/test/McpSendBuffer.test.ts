/**
 * The send buffer of `Mcp.serve` over Streamable HTTP: what a session's clients have not read yet stays within
 * `sendBuffer.maxBytes`. A client that keeps a stream open and never reads has that stream cut (and its
 * connection destroyed) while other sessions go on; a slow client that was cut resumes with `Last-Event-ID`
 * and gets every event exactly once, in order.
 */
import { EventEmitter } from "node:events"
import type { ServerResponse } from "node:http"
import { connect } from "node:net"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { Tool, Toolkit } from "@agentloop/core"
import { Mcp, type McpHttp } from "@agentloop/mcp"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as SendBuffer from "../src/internal/sendBuffer.js"
import { callBody, messages, type Opened, sequenceOf, type SseEvent, sseClient } from "./sse.js"
import { eventually } from "./support.js"

const TOKEN = "send-buffer-test-token-0123456789"

const Blob = Tool.make("blob", {
  description: "A large answer, after a while.",
  parameters: { kb: Schema.Number, tag: Schema.String, ms: Schema.Number },
  success: Schema.String
})
const Tools = Toolkit.make(Blob)
const handlers = Tools.toLayer({ blob: ({ kb, ms, tag }) => Effect.as(Effect.sleep(`${ms} millis`), `${tag}:${"x".repeat(kb * 1024)}`) })

const serve = (http: Partial<McpHttp.Options>) => Mcp.serve(Tools, { transport: { http: { token: TOKEN, ...http } } }).pipe(Effect.provide(handlers))

const { initialize, open, resume } = sseClient(TOKEN)

/**
 * One POST carrying `count` calls (a JSON-RPC batch): their results all go to one SSE stream, all at once
 * (`every` 0) or one every `every` milliseconds.
 */
const batch = (count: number, kb: number, every = 0) =>
  Array.from({ length: count }, (_, i) => callBody(i + 1, "blob", { kb, tag: `r${i + 1}`, ms: i * every }))

/** Samples the handle's send buffer every millisecond until stopped; the largest size seen. */
const sampler = (handle: Mcp.ServeHandle) => {
  let most = 0
  const timer = setInterval(() => (most = Math.max(most, Effect.runSync(handle.sendBuffer).bytes)), 1)
  return { most: () => most, stop: () => clearInterval(timer) }
}

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void
/** The process's live `ArrayBuffer` memory (where encoded SSE chunks live, whichever queue holds them). */
const liveArrayBuffers = () => {
  gc()
  return process.memoryUsage().arrayBuffers
}

/** A fake response: `writableLength` is what the test says the client has not read. */
const fakeResponse = () => {
  const response = Object.assign(new EventEmitter(), {
    writableLength: 0,
    written: [] as Array<number>,
    ended: false,
    destroyed: false,
    write(chunk: Uint8Array) {
      response.written.push(chunk.byteLength)
      response.writableLength += chunk.byteLength
      return true
    },
    end() {
      response.ended = true
      return response
    },
    destroy() {
      response.destroyed = true
      response.emit("close")
    }
  })
  return response
}

/** A raw connection that sends one POST and never reads (node:net, paused: the kernel's buffers fill up). */
const stalledPost = (url: URL, headers: Record<string, string>, body: string) => {
  const socket = connect(Number(url.port), url.hostname)
  socket.pause()
  socket.write(
    [
      `POST ${url.pathname} HTTP/1.1`,
      `host: ${url.host}`,
      `authorization: Bearer ${TOKEN}`,
      "accept: application/json, text/event-stream",
      "content-type: application/json",
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
      `content-length: ${Buffer.byteLength(body)}`,
      "",
      body
    ].join("\r\n")
  )
  return socket
}

/**
 * Reads `stream`, and resumes it with `Last-Event-ID` each time it ends early (as a client does after
 * `retry`), until `count` results have arrived; every event read, and how many streams it took.
 */
const readAll = (url: string, headers: Record<string, string>, stream: Opened, count: number, readEvery?: number) =>
  Effect.gen(function* () {
    const events: Array<SseEvent> = []
    let rounds = 1
    for (;;) {
      yield* eventually(() => stream.ended() || messages(events.concat(stream.events)).length === count)
      events.push(...stream.events)
      if (messages(events).length === count) break
      yield* Effect.sleep("50 millis")
      rounds++
      stream = yield* resume(url, headers, events.at(-1)!.id!, readEvery)
      expect(stream.status).toBe(200)
    }
    stream.drop()
    return { events, rounds }
  })

/** The results of calls 1..count, each once with its own answer, and event ids strictly increasing. */
const exactlyOnceInOrder = (events: ReadonlyArray<SseEvent>, count: number, kb: number) => {
  const results = messages(events)
  expect(results.map((m) => m.id).sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i + 1))
  for (const m of results) expect(m.result.content[0].text).toBe(`r${m.id}:${"x".repeat(kb * 1024)}`)
  const sequence = events.filter((e) => e.data !== "").map(sequenceOf)
  expect(sequence).toEqual([...sequence].sort((a, b) => a - b))
  expect(new Set(sequence).size).toBe(sequence.length)
}

describe("the send buffer (pure)", () => {
  it("writes while the session's unsent bytes stay within maxBytes, or when nothing is unsent; else cuts the streams that are behind", async () => {
    const buffer = SendBuffer.make({ maxBytes: 100, drainTimeoutMs: 20 })
    const behind = fakeResponse()
    const caughtUp = fakeResponse()
    buffer.attach(behind as unknown as ServerResponse)
    buffer.attach(caughtUp as unknown as ServerResponse)
    const write = (response: ReturnType<typeof fakeResponse>, bytes: number) => (response as unknown as ServerResponse).write(new Uint8Array(bytes))
    // Larger than the budget, but nothing is unsent: written.
    write(caughtUp, 500)
    caughtUp.writableLength = 0
    write(behind, 60)
    write(behind, 40)
    expect(buffer.size()).toEqual({ streams: 2, bytes: 100 })
    // One byte more would pass the budget: not written, and the stream is cut.
    write(caughtUp, 1)
    expect(caughtUp.written).toEqual([500])
    expect(caughtUp.ended).toBe(true)
    expect(behind.ended).toBe(true)
    // A cut stream takes no more writes; it is destroyed when it has not drained in time.
    write(behind, 1)
    expect(behind.written).toEqual([60, 40])
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(behind.destroyed).toBe(true)
    expect(buffer.size()).toEqual({ streams: 0, bytes: 0 })
  })
})

describe("Streamable HTTP: the send buffer", () => {
  it.live("a client that never reads: the server's unsent bytes stay within the bound, the stream is cut, and other sessions go on meanwhile", () =>
    Effect.gen(function* () {
      const maxBytes = 512 * 1024
      const handle = yield* serve({ sendBuffer: { maxBytes, drainTimeout: "3 seconds" } })
      const url = new URL(handle.url!)
      const stalled = yield* initialize(handle.url!)
      const other = yield* initialize(handle.url!)
      const seen = sampler(handle)
      const before = liveArrayBuffers()
      // 100 results of 128 KiB (12.8 MB), one every 10 ms, to a client that never reads: far more than the
      // kernel's buffers hold, so the server's own buffers fill up.
      const body = JSON.stringify(batch(100, 128, 10))
      const socket = stalledPost(url, stalled, body)
      let received = ""
      let closed = false
      socket.on("close", () => (closed = true))
      socket.on("error", () => (closed = true))
      const posted = Date.now()
      // Another session's calls are answered while the stalled stream is still open.
      for (let i = 0; i < 20; i++) {
        const call = yield* open(handle.url!, { method: "POST", headers: other, body: callBody(i, "blob", { kb: 1, tag: `other${i}`, ms: 0 }) })
        yield* eventually(() => call.ended())
        expect(messages(call.events).map((m) => m.result.content[0].text)).toEqual([`other${i}:${"x".repeat(1024)}`])
      }
      // Every result has been produced (12.8 MB sent towards the stalled client), the stream is not destroyed
      // yet: the memory held for it stays about the bound (without one it would hold most of the 12.8 MB).
      yield* Effect.sleep(Math.max(0, posted + 1_200 - Date.now()))
      expect(liveArrayBuffers() - before).toBeLessThan(2 * maxBytes)
      expect(Effect.runSync(handle.sendBuffer).streams).toBeGreaterThanOrEqual(1)
      // The stalled stream is cut, and its connection destroyed after drainTimeout: nothing is left unsent.
      yield* eventually(() => Effect.runSync(handle.sendBuffer).streams === 0)
      seen.stop()
      expect(seen.most()).toBeGreaterThan(128 * 1024)
      expect(seen.most()).toBeLessThanOrEqual(maxBytes)
      expect(Effect.runSync(handle.sendBuffer).bytes).toBe(0)
      // Reading now, the client finds the stream ended before most results: the server stopped writing to it.
      socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")))
      socket.resume()
      yield* eventually(() => closed)
      expect(received.split("event: message").length - 1).toBeLessThan(100)
      // The session itself is still there: a later call is answered.
      const after = yield* open(handle.url!, { method: "POST", headers: stalled, body: callBody(1_000, "blob", { kb: 1, tag: "after", ms: 0 }) })
      yield* eventually(() => after.ended())
      expect(messages(after.events)[0]!.result.content[0].text.startsWith("after:")).toBe(true)
    }).pipe(Effect.scoped)
  )

  it.live("a slow client is cut when it falls behind, resumes with Last-Event-ID, and gets every event exactly once, in order", () =>
    Effect.gen(function* () {
      const maxBytes = 256 * 1024
      const handle = yield* serve({
        sendBuffer: { maxBytes, drainTimeout: "10 seconds" },
        replay: { maxEvents: 10_000, maxBytes: 64 * 1024 * 1024, retry: "50 millis" }
      })
      const headers = yield* initialize(handle.url!)
      const seen = sampler(handle)
      const first = yield* open(handle.url!, { method: "POST", headers, body: batch(100, 32), readEvery: 2 })
      const { events, rounds } = yield* readAll(handle.url!, headers, first, 100, 2)
      seen.stop()
      // The server did cut the slow client (more than one stream), and never held more than the bound for it.
      expect(rounds).toBeGreaterThan(1)
      expect(seen.most()).toBeLessThanOrEqual(maxBytes)
      exactlyOnceInOrder(events, 100, 32)
    }).pipe(Effect.scoped)
  )

  it.live("a stalled client that comes back on a new connection: 409 until its cut connection is destroyed, then every result once, from the replay buffer", () =>
    Effect.gen(function* () {
      const handle = yield* serve({
        sendBuffer: { maxBytes: 1024 * 1024, drainTimeout: "1500 millis" },
        replay: { maxEvents: 10_000, maxBytes: 64 * 1024 * 1024 }
      })
      const url = new URL(handle.url!)
      const headers = yield* initialize(handle.url!)
      const socket = stalledPost(url, headers, JSON.stringify(batch(60, 128, 25)))
      // The response's head and priming event are the only bytes this client ever reads from that connection.
      let head = ""
      yield* eventually(() => {
        const chunk = socket.read(1024) as Buffer | null
        if (chunk !== null) head += chunk.toString("latin1")
        return /\nid: (\S+)/.test(head)
      })
      const priming = /\nid: (\S+)/.exec(head)![1]!
      // The calls still answer (one every 25 ms, 1.5 s in all), the stream was cut, its connection is not yet
      // destroyed: the SDK allows one connection per stream.
      yield* eventually(() => Effect.runSync(handle.sendBuffer).bytes > 128 * 1024)
      yield* Effect.sleep("300 millis")
      const early = yield* resume(handle.url!, headers, priming)
      yield* eventually(() => early.ended())
      expect(early.status).toBe(409)
      yield* eventually(() => Effect.runSync(handle.sendBuffer).streams === 0)
      socket.destroy()
      // From the priming event on: a resume replays at most about maxBytes before it is cut in turn, so the
      // client resumes again from the last event it read.
      const later = yield* resume(handle.url!, headers, priming)
      expect(later.status).toBe(200)
      const { events } = yield* readAll(handle.url!, headers, later, 60)
      exactlyOnceInOrder(events, 60, 128)
    }).pipe(Effect.scoped)
  )

  it.live("our own client (Mcp.toolkit) rides through cut streams: concurrent large results, each call gets its own result once", () =>
    Effect.gen(function* () {
      const handle = yield* serve({ sendBuffer: { maxBytes: 32 * 1024 }, replay: { maxBytes: 16 * 1024 * 1024, retry: "20 millis" } })
      const seen = sampler(handle)
      const mcp = yield* Mcp.toolkit(Mcp.http(handle.url!, { token: TOKEN }), { retries: 0 })
      const resolved = yield* Toolkit.resolve(mcp.toolkit).pipe(Effect.provide(mcp.layer))
      const results = yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        (i) => Toolkit.execute(resolved, { name: "blob", args: { kb: 64, tag: `c${i}`, ms: 0 } }, { runId: "r", toolCallId: `c${i}`, idempotencyKey: `k${i}` }),
        { concurrency: "unbounded" }
      )
      seen.stop()
      expect(results.map((r) => [r.isError, r.content])).toEqual(Array.from({ length: 20 }, (_, i) => [false, `c${i}:${"x".repeat(64 * 1024)}`]))
      // Each result (64 KiB) is larger than the budget: one at a time, to a client that has read the rest.
      expect(seen.most()).toBeLessThanOrEqual(64 * 1024 + 1024)
    }).pipe(Effect.scoped)
  )

  it.live("replay: false: a client cut for falling behind loses the rest of that stream (no event ids to resume from); the bound holds", () =>
    Effect.gen(function* () {
      const maxBytes = 64 * 1024
      const handle = yield* serve({ sendBuffer: { maxBytes, drainTimeout: "10 seconds" }, replay: false })
      const headers = yield* initialize(handle.url!)
      const seen = sampler(handle)
      const stream = yield* open(handle.url!, { method: "POST", headers, body: batch(100, 48), readEvery: 2 })
      yield* eventually(() => stream.ended())
      seen.stop()
      expect(seen.most()).toBeLessThanOrEqual(maxBytes)
      expect(stream.events.every((e) => e.id === undefined)).toBe(true)
      expect(messages(stream.events).length).toBeLessThan(100)
    }).pipe(Effect.scoped)
  )

  it.effect("invalid send buffer options are refused with the option named", () =>
    Effect.gen(function* () {
      const bytes = yield* Effect.flip(serve({ sendBuffer: { maxBytes: 0 } }))
      expect(bytes).toMatchObject({ _tag: "McpServeError", option: "sendBuffer.maxBytes" })
      const timeout = yield* Effect.flip(serve({ sendBuffer: { drainTimeout: "forever" as never } }))
      expect(timeout).toMatchObject({ _tag: "McpServeError", option: "sendBuffer.drainTimeout" })
    }).pipe(Effect.scoped)
  )
})
