/**
 * Resumable streams (SEP-1699) on `Mcp.serve` over Streamable HTTP: the replay buffer of a session, a client
 * that lost a stream (dropped by the client mid-call, or closed by the server's `closeStreamAfter`) and
 * reconnects with `Last-Event-ID`, ids that are not the session's, and the bound under a client that never
 * reads or never comes back.
 */
import { Tool, Toolkit } from "@agentloop/core"
import { Mcp, type McpHttp } from "@agentloop/mcp"
import { describe, expect, it } from "@effect/vitest"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import { type Duration, Effect, Schema } from "effect"
import * as EventStore from "../src/internal/eventStore.js"
import { callBody, messages, sseClient } from "./sse.js"
import { eventually } from "./support.js"

const TOKEN = "replay-test-token-0123456789"

const Wait = Tool.make("wait", { description: "Waits, then answers.", parameters: { ms: Schema.Number, tag: Schema.String }, success: Schema.String })
const Big = Tool.make("big", { description: "A large answer.", success: Schema.String })
const Gated = Tool.make("gated", { description: "Needs approval.", parameters: { disk: Schema.String }, success: Schema.String, requiresApproval: true })
const Tools = Toolkit.make(Wait, Big, Gated)
const handlers = Tools.toLayer({
  wait: ({ ms, tag }) => Effect.as(Effect.sleep(`${ms} millis`), `waited ${tag}`),
  big: () => Effect.succeed("x".repeat(2_000)),
  gated: ({ disk }, context) => Effect.succeed(`wiped ${disk} (approved by ${context.approval?.decidedBy})`)
})

const serve = (http: Partial<McpHttp.Options> = {}, closeStreamAfter?: Duration.Input) =>
  Mcp.serve(Tools, { ...(closeStreamAfter === undefined ? {} : { closeStreamAfter }), transport: { http: { token: TOKEN, ...http } } }).pipe(
    Effect.provide(handlers)
  )

const { initialize, open, resume } = sseClient(TOKEN)

describe("the replay buffer (pure)", () => {
  it("replays exactly the events after the id, on its stream only, in order, without priming events; a foreign id replays nothing", async () => {
    const store = EventStore.make({ maxEvents: 100, maxBytes: 1_000_000 })
    const other = EventStore.make({ maxEvents: 100, maxBytes: 1_000_000 })
    const message = (id: number): JSONRPCMessage => ({ jsonrpc: "2.0", id, result: {} })
    const priming = await store.storeEvent("a", {} as JSONRPCMessage)
    const a1 = await store.storeEvent("a", message(1))
    await store.storeEvent("b", message(100))
    await store.storeEvent("a", message(2))
    await store.storeEvent("a", message(3))
    const foreign = await other.storeEvent("a", message(1))
    const replayed: Array<unknown> = []
    const send = async (_id: string, m: JSONRPCMessage) => void replayed.push((m as { id: number }).id)
    expect(await store.replayEventsAfter(priming, { send })).toBe("a")
    expect(replayed).toEqual([1, 2, 3])
    replayed.length = 0
    await store.replayEventsAfter(a1, { send })
    expect(replayed).toEqual([2, 3])
    replayed.length = 0
    expect(store.knows(foreign)).toBe(false)
    expect(await store.getStreamIdForEventId!(foreign)).toBeUndefined()
    await store.replayEventsAfter(foreign, { send })
    expect(replayed).toEqual([])
  })

  it("holds at most maxEvents and maxBytes, dropping the oldest first; clear empties it", async () => {
    const store = EventStore.make({ maxEvents: 50, maxBytes: 20_000 })
    const ids: Array<string> = []
    for (let i = 0; i < 5_000; i++) ids.push(await store.storeEvent(`s${i % 3}`, { jsonrpc: "2.0", id: i, result: { pad: "y".repeat(i % 700) } }))
    const size = store.size()
    expect(size.events).toBeLessThanOrEqual(50)
    expect(size.bytes).toBeLessThanOrEqual(20_000)
    expect(store.knows(ids[0]!)).toBe(false)
    expect(store.knows(ids.at(-1)!)).toBe(true)
    store.clear()
    expect(store.size()).toEqual({ events: 0, bytes: 0 })
    expect(store.knows(ids.at(-1)!)).toBe(false)
  })
})

describe("Streamable HTTP: resumable streams", () => {
  it.live("a client that drops its connection mid-call reconnects with Last-Event-ID and gets the result exactly once", () =>
    Effect.gen(function* () {
      const handle = yield* serve()
      const url = handle.url!
      const headers = yield* initialize(url)
      const call = yield* open(url, { method: "POST", headers, body: callBody(7, "wait", { ms: 300, tag: "dropped" }) })
      yield* eventually(() => call.events.length >= 1)
      const priming = call.events[0]!
      expect(priming.data).toBe("")
      expect(priming.retry).toBe(1000)
      call.drop()
      // The result is sent while nobody listens: it is kept, not lost.
      yield* Effect.sleep("500 millis")
      const resumed = yield* resume(url, headers, priming.id!)
      expect(resumed.status).toBe(200)
      yield* eventually(() => messages(resumed.events).length >= 1)
      // Nothing else follows (no duplicate).
      yield* Effect.sleep("200 millis")
      resumed.drop()
      const replayed = messages(resumed.events)
      expect(replayed).toHaveLength(1)
      expect(replayed[0]).toMatchObject({ id: 7, result: { content: [{ type: "text", text: "waited dropped" }] } })
      // Resuming from the result's own id: nothing after it.
      const again = yield* resume(url, headers, resumed.events.at(-1)!.id!)
      yield* Effect.sleep("200 millis")
      expect(messages(again.events)).toEqual([])
      again.drop()
    }).pipe(Effect.scoped)
  )

  it.live("dropped before the server's question: the resume replays the question, then the result follows on it; each once, in order", () =>
    Effect.gen(function* () {
      const handle = yield* serve()
      const url = handle.url!
      const headers = yield* initialize(url, { elicitation: {} })
      const call = yield* open(url, { method: "POST", headers, body: callBody(5, "gated", { disk: "d1" }) })
      yield* eventually(() => call.events.length >= 1)
      const priming = call.events[0]!.id!
      call.drop()
      // The approval question is sent while nobody listens.
      yield* Effect.sleep("200 millis")
      const resumed = yield* resume(url, headers, priming)
      yield* eventually(() => messages(resumed.events).length >= 1)
      const question = messages(resumed.events)[0]!
      expect(question).toMatchObject({ method: "elicitation/create" })
      const answer = yield* open(url, {
        method: "POST",
        headers,
        body: { jsonrpc: "2.0", id: question.id, result: { action: "accept", content: { approve: true } } }
      })
      expect(answer.status).toBe(202)
      yield* eventually(() => resumed.ended())
      expect(messages(resumed.events).map((m) => m.method ?? m.result?.content?.[0]?.text)).toEqual(["elicitation/create", "wiped d1 (approved by raw)"])
      // Event ids strictly increase along the resumed stream: no event twice, none out of order.
      const sequence = resumed.events.map((e) => Number(e.id!.split("-")[1]))
      expect(sequence).toEqual([...sequence].sort((a, b) => a - b))
      expect(new Set(sequence).size).toBe(sequence.length)
    }).pipe(Effect.scoped)
  )

  it.live("the server closes a long call's stream (closeStreamAfter): the client resumes and gets every event it missed, once, in order", () =>
    Effect.gen(function* () {
      const handle = yield* serve({}, "100 millis")
      const url = handle.url!
      const headers = yield* initialize(url)
      // A batch-free sequence: two calls on two streams; only the first one's events may come back on its resume.
      const first = yield* open(url, { method: "POST", headers, body: callBody(1, "wait", { ms: 400, tag: "first" }) })
      const second = yield* open(url, { method: "POST", headers, body: callBody(2, "wait", { ms: 400, tag: "second" }) })
      yield* eventually(() => first.ended() && second.ended())
      expect(messages(first.events)).toEqual([])
      const resumed = yield* resume(url, headers, first.events[0]!.id!)
      const other = yield* resume(url, headers, second.events[0]!.id!)
      yield* eventually(() => resumed.ended() && other.ended())
      expect(messages(resumed.events).map((m) => [m.id, m.result.content[0].text])).toEqual([[1, "waited first"]])
      expect(messages(other.events).map((m) => [m.id, m.result.content[0].text])).toEqual([[2, "waited second"]])
    }).pipe(Effect.scoped)
  )

  it.live("our own client (Mcp.toolkit) rides through server-closed streams: every call gets its result", () =>
    Effect.gen(function* () {
      const handle = yield* serve({ replay: { retry: "50 millis" } }, "60 millis")
      const mcp = yield* Mcp.toolkit(Mcp.http(handle.url!, { token: TOKEN }), { retries: 0 })
      const resolved = yield* Toolkit.resolve(mcp.toolkit).pipe(Effect.provide(mcp.layer))
      const results = yield* Effect.forEach(
        [1, 2, 3],
        (i) => Toolkit.execute(resolved, { name: "wait", args: { ms: 300, tag: `c${i}` } }, { runId: "r", toolCallId: `c${i}`, idempotencyKey: `k${i}` }),
        { concurrency: "unbounded" }
      )
      expect(results.map((r) => [r.isError, r.content])).toEqual([
        [false, "waited c1"],
        [false, "waited c2"],
        [false, "waited c3"]
      ])
    }).pipe(Effect.scoped)
  )

  it.live("another session's event id, or a made-up one, replays nothing: 400, and no event of the other session", () =>
    Effect.gen(function* () {
      const handle = yield* serve()
      const url = handle.url!
      const a = yield* initialize(url)
      const b = yield* initialize(url)
      const secret = yield* open(url, { method: "POST", headers: a, body: callBody(1, "wait", { ms: 1, tag: "session-a-secret" }) })
      yield* eventually(() => secret.ended())
      for (const id of [secret.events[0]!.id!, "1", `${secret.events[0]!.id!.split("-")[0]}-999`]) {
        const foreign = yield* resume(url, b, id)
        yield* eventually(() => foreign.ended())
        expect(foreign.status).toBe(400)
        expect(foreign.text()).toContain("Unknown Last-Event-ID")
        expect(foreign.text()).not.toContain("session-a-secret")
      }
      // Session A's own resume still works.
      const own = yield* resume(url, a, secret.events[0]!.id!)
      yield* eventually(() => own.text().includes("session-a-secret"))
      own.drop()
    }).pipe(Effect.scoped)
  )

  it.live("a client that never reads: the buffer stays within maxEvents and maxBytes per session, and goes with the session (DELETE, expiry)", () =>
    Effect.gen(function* () {
      const bounds = { maxEvents: 20, maxBytes: 16_000 }
      const handle = yield* serve({ replay: bounds, sessionIdleTimeout: "1500 millis" })
      const url = handle.url!
      const a = yield* initialize(url)
      const b = yield* initialize(url)
      let firstId: string | undefined
      for (let i = 0; i < 60; i++) {
        for (const headers of [a, b]) {
          const call = yield* open(url, { method: "POST", headers, body: callBody(i, "big") })
          if (firstId === undefined) {
            yield* eventually(() => call.events.length >= 1)
            firstId = call.events[0]!.id
          }
          // Never read: the connection is dropped as soon as the answer starts.
          call.drop()
        }
      }
      // Every answer is sent (and kept) although nobody reads it.
      yield* Effect.sleep("200 millis")
      const held = yield* handle.replayBuffer
      expect(held.events).toBeGreaterThan(0)
      expect(held.events).toBeLessThanOrEqual(2 * bounds.maxEvents)
      expect(held.bytes).toBeLessThanOrEqual(2 * bounds.maxBytes)
      // The oldest events are gone: resuming from them is refused, not answered with a partial history.
      const stale = yield* resume(url, a, firstId!)
      yield* eventually(() => stale.ended())
      expect(stale.status).toBe(400)
      // DELETE drops session A's buffer at once; B's expires with B.
      const deleted = yield* open(url, { method: "DELETE", headers: a })
      yield* eventually(() => deleted.ended())
      expect(deleted.status).toBe(200)
      const afterDelete = yield* handle.replayBuffer
      expect(afterDelete.events).toBeLessThanOrEqual(bounds.maxEvents)
      expect(afterDelete.bytes).toBeLessThanOrEqual(bounds.maxBytes)
      yield* eventually(() => Effect.runSync(handle.sessions) === 0)
      expect(yield* handle.replayBuffer).toEqual({ events: 0, bytes: 0 })
    }).pipe(Effect.scoped)
  )

  it.live("replay: false keeps no buffer: no priming event, and Last-Event-ID resumes nothing", () =>
    Effect.gen(function* () {
      const handle = yield* serve({ replay: false })
      const url = handle.url!
      const headers = yield* initialize(url)
      const call = yield* open(url, { method: "POST", headers, body: callBody(1, "wait", { ms: 1, tag: "plain" }) })
      yield* eventually(() => call.ended())
      expect(call.events.every((e) => e.data !== "")).toBe(true)
      expect(yield* handle.replayBuffer).toEqual({ events: 0, bytes: 0 })
    }).pipe(Effect.scoped)
  )

  it.effect("invalid replay bounds are refused with the option named", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(serve({ replay: { maxEvents: 0 } }))
      expect(error).toMatchObject({ _tag: "McpServeError", option: "replay.maxEvents" })
      const bytes = yield* Effect.flip(serve({ replay: { maxBytes: 1.5 } }))
      expect(bytes).toMatchObject({ _tag: "McpServeError", option: "replay.maxBytes" })
    }).pipe(Effect.scoped)
  )
})
