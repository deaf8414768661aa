/**
 * A raw Streamable HTTP client for the MCP server tests: requests whose SSE events are read as they come
 * (optionally slowly), sessions speaking 2025-11-25 (resumable streams), and resumes with `Last-Event-ID`.
 */
import { request } from "node:http"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import { Effect } from "effect"
import { eventually } from "./support.js"

export interface SseEvent {
  readonly id: string | undefined
  readonly retry: number | undefined
  readonly data: string
}

export interface Opened {
  readonly status: number
  readonly headers: Record<string, unknown>
  readonly events: Array<SseEvent>
  readonly text: () => string
  readonly ended: () => boolean
  readonly drop: () => void
}

export interface OpenOptions {
  readonly method: "GET" | "POST" | "DELETE"
  readonly headers?: Record<string, string>
  readonly body?: unknown
  /** Read one chunk every this many milliseconds (a slow client); default: read as it comes. */
  readonly readEvery?: number
}

export const messages = (events: ReadonlyArray<SseEvent>): Array<JSONRPCMessage & Record<string, any>> =>
  events.filter((e) => e.data !== "").map((e) => JSON.parse(e.data))

export const callBody = (id: number, name: string, args: Record<string, unknown> = {}) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name, arguments: args }
})

/** The event's position in its session (ids are `<session prefix>-<sequence>`). */
export const sequenceOf = (event: SseEvent): number => Number(event.id!.split("-")[1])

export const sseClient = (token: string) => {
  /** One raw request whose SSE events are read as they come; `drop` cuts the connection. */
  const open = (url: string, options: OpenOptions) =>
    Effect.callback<Opened>((resume) => {
      const events: Array<SseEvent> = []
      let buffer = ""
      let all = ""
      let ended = false
      let timer: ReturnType<typeof setInterval> | undefined
      const end = () => {
        ended = true
        clearInterval(timer)
      }
      const req = request(
        url,
        {
          method: options.method,
          headers: {
            authorization: `Bearer ${token}`,
            accept: "application/json, text/event-stream",
            "content-type": "application/json",
            ...options.headers
          }
        },
        (response) => {
          response.on("data", (chunk: Buffer) => {
            all += chunk.toString("utf8")
            buffer += chunk.toString("utf8")
            let at: number
            while ((at = buffer.indexOf("\n\n")) !== -1) {
              const block = buffer.slice(0, at)
              buffer = buffer.slice(at + 2)
              const field = (name: string) =>
                block
                  .split("\n")
                  .find((line) => line.startsWith(`${name}:`))
                  ?.slice(name.length + 1)
                  .trim()
              events.push({ id: field("id"), retry: field("retry") === undefined ? undefined : Number(field("retry")), data: field("data") ?? "" })
            }
            if (options.readEvery !== undefined) response.pause()
          })
          if (options.readEvery !== undefined) {
            response.pause()
            timer = setInterval(() => response.resume(), options.readEvery)
          }
          response.on("end", end)
          response.on("close", end)
          response.on("error", end)
          resume(
            Effect.succeed({
              status: response.statusCode!,
              headers: response.headers,
              events,
              text: () => all,
              ended: () => ended,
              drop: () => {
                clearInterval(timer)
                req.destroy()
              }
            })
          )
        }
      )
      req.on("error", end)
      req.end(options.body === undefined ? undefined : JSON.stringify(options.body))
    })

  /** Initializes a session speaking 2025-11-25 (resumable streams); its headers. */
  const initialize = (url: string, capabilities: Record<string, unknown> = {}) =>
    Effect.gen(function* () {
      const init = yield* open(url, {
        method: "POST",
        body: {
          jsonrpc: "2.0",
          id: 0,
          method: "initialize",
          params: { protocolVersion: "2025-11-25", capabilities, clientInfo: { name: "raw", version: "1" } }
        }
      })
      yield* eventually(() => init.ended())
      const session = init.headers["mcp-session-id"] as string
      const headers = { "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" }
      const initialized = yield* open(url, { method: "POST", headers, body: { jsonrpc: "2.0", method: "notifications/initialized" } })
      yield* eventually(() => initialized.ended())
      return headers
    })

  const resume = (url: string, headers: Record<string, string>, lastEventId: string, readEvery?: number) =>
    open(url, {
      method: "GET",
      headers: { ...headers, accept: "text/event-stream", "last-event-id": lastEventId },
      ...(readEvery === undefined ? {} : { readEvery })
    })

  return { open, initialize, resume }
}
