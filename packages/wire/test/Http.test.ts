/**
 * The body guard of `Http.send` (`Response.stream`, `streamUntil`, `readUntil`): bounded read-ahead for a
 * slow consumer, and a consumer that stops early closing the connection.
 */
import { LanguageModel } from "@agentloop/core"
import { Http } from "@agentloop/wire"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { type Array as Arr, Cause, Effect, type Pull, Result, Stream } from "effect"
import { HttpClient, HttpClientResponse } from "effect/http"
import { createServer, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

const request = (url: string): Http.Request => ({ provider: "test", method: "POST", url, body: {}, idempotent: true, retry: { maxRetries: 0 } })

const stepError = () => new LanguageModel.ModelError({ provider: "test", message: "step", retryable: false, reason: "step-timeout" })

/** An `HttpClient` whose response body is `reads` reads of 1 KiB (each counted when the body yields it), then `rest`. */
const countingClient = (reads: number, rest: Stream.Stream<Uint8Array> = Stream.empty) => {
  let pulled = 0
  const read = new Uint8Array(1024).fill(97)
  const client = HttpClient.make((req) =>
    Effect.sync(() => {
      const response = HttpClientResponse.fromWeb(req, new Response(null, { status: 200 }))
      // One read per chunk, as a socket delivers them.
      const body = Stream.concat(
        Stream.map(Stream.range(1, reads, 1), () => {
          pulled++
          return read
        }),
        rest
      )
      return Object.create(response, { stream: { value: body } }) as HttpClientResponse.HttpClientResponse
    })
  )
  return { client, pulled: () => pulled }
}

/** Everything `pull` gives until the stream ends or fails: how many items, and the failure if any. */
const drain = <A, E>(pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E>) =>
  Effect.gen(function* () {
    let items = 0
    for (;;) {
      const next = yield* Effect.result(pull)
      if (Result.isSuccess(next)) items += next.success.length
      else return { items, error: Cause.isDone(next.failure) ? undefined : next.failure }
    }
  })

/** A server that writes an SSE frame every 20 ms until the client goes away, and says when it did. */
const endlessServer = Effect.acquireRelease(
  Effect.callback<{ readonly url: string; readonly closed: () => boolean; readonly close: () => void }>((resume) => {
    let closed = false
    const timers = new Set<NodeJS.Timeout>()
    const server = createServer((_req, res: ServerResponse) => {
      res.writeHead(200, { "content-type": "text/event-stream" })
      const timer = setInterval(() => res.write(`data: {"text":"x"}\n\n`), 20)
      timers.add(timer)
      res.on("close", () => {
        closed = true
        clearInterval(timer)
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resume(
        Effect.succeed({
          url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
          closed: () => closed,
          close: () => {
            for (const timer of timers) clearInterval(timer)
            server.closeAllConnections()
            server.close()
          }
        })
      )
    )
  }),
  (server) => Effect.sync(server.close)
)

describe("Http body guard", () => {
  it.live("a consumer that does not pull holds only a few reads: the reader waits for room rather than reading the body ahead", () =>
    Effect.gen(function* () {
      const body = countingClient(1_000)
      const response = yield* Http.send(request("http://127.0.0.1/")).pipe(Effect.provideService(HttpClient.HttpClient, body.client))
      const pull = yield* Stream.toPull(response.streamUntil(Date.now() + 60_000, stepError))
      const first = yield* pull
      expect(first.length).toBeGreaterThan(0)
      // Give the reader all the time it wants: it must stop after a few reads, not read the 1,000.
      yield* Effect.sleep("200 millis")
      const ahead = body.pulled()
      expect(ahead).toBeLessThan(24)
      yield* Effect.sleep("100 millis")
      expect(body.pulled()).toBe(ahead)
      // And the rest of the body still comes when the consumer pulls again.
      const rest = yield* drain(pull)
      expect(first.length + rest.items).toBe(1_000)
      expect(rest.error).toBeUndefined()
    }))

  it.live("a reader that waited for room, then waits for a server gone silent: the idle timeout fires", () =>
    Effect.gen(function* () {
      // Twice the read-ahead (8), then silence: the reader fills the buffer while the consumer pauses, waits
      // for room, and once given room waits for the server, which the idle timeout must count from then.
      const body = countingClient(16, Stream.never)
      const response = yield* Http.send({ ...request("http://127.0.0.1/"), timeouts: { idle: "200 millis" } }).pipe(
        Effect.provideService(HttpClient.HttpClient, body.client)
      )
      const pull = yield* Stream.toPull(response.stream)
      const first = (yield* pull).length
      yield* Effect.sleep("600 millis")
      const rest = yield* drain(pull).pipe(Effect.timeout("5 seconds"))
      expect(first + rest.items).toBe(16)
      expect(rest.error).toMatchObject({ _tag: "ModelError", reason: "idle-timeout" })
    }))

  it.live("a consumer that stops early closes the connection", () =>
    Effect.gen(function* () {
      const server = yield* endlessServer
      // The client's layer stays up for the whole test: closing it would end the body by itself.
      const response = yield* Http.send(request(server.url))
      const first = yield* response.streamUntil(Date.now() + 60_000, stepError).pipe(Stream.take(1), Stream.runCollect)
      expect(first.length).toBe(1)
      // Wait (up to 5 s) for the server to see the client go away; the endless body would never end it.
      for (let i = 0; i < 100 && !server.closed(); i++) yield* Effect.sleep("50 millis")
      expect(server.closed()).toBe(true)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
