/**
 * The small HTTP server the hosted-API fakes share: real HTTP on 127.0.0.1, JSON / SSE / NDJSON / text
 * replies, streams written frame by frame (each frame split in two writes, so clients must reassemble),
 * connections dropped mid-stream on request, and a log of every request.
 *
 * @since 0.1.0
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"
import type * as ScriptedModel from "./ScriptedModel.js"

export interface Request {
  readonly method: string
  readonly path: string
  readonly query: URLSearchParams
  readonly headers: IncomingMessage["headers"]
  /** The parsed JSON body, or the raw text when it is not JSON. */
  readonly body: any
}

export interface SseFrame {
  readonly event?: string
  /** Written as is when a string; as JSON otherwise. */
  readonly data: unknown
}

export type Reply =
  | { readonly status?: number; readonly headers?: Record<string, string>; readonly json: unknown }
  | { readonly status?: number; readonly headers?: Record<string, string>; readonly text: string }
  | {
      readonly status?: number
      readonly headers?: Record<string, string>
      readonly sse: ReadonlyArray<SseFrame>
      /** Close the connection after this many frames, without ending the response. */
      readonly dropAfter?: number
      /** Separator after `event:`/`data:`, e.g. `""` for Heroku's `event:message`. Default `" "`. */
      readonly separator?: string
    }
  | {
      readonly status?: number
      readonly headers?: Record<string, string>
      /** Each item is one line: strings are written verbatim (to send malformed lines), others as JSON. */
      readonly ndjson: ReadonlyArray<unknown>
      readonly dropAfter?: number
    }

/** A scripted HTTP error: the status, and the JSON body sent with it. */
export interface ErrorAnswer {
  readonly status: number
  readonly body: unknown
}

export const errorReply = (answer: ErrorAnswer): Reply => ({ status: answer.status, json: answer.body })

/**
 * One answer of a fake that plays `ScriptedModel` turns: a turn; an HTTP error; a turn whose stream is cut
 * after `dropAfter` frames; or exact SSE frames (to send malformed or unknown events).
 */
export type TurnAnswer =
  | ScriptedModel.Turn
  | ErrorAnswer
  | { readonly dropAfter: number; readonly turn: ScriptedModel.ReplyTurn }
  | { readonly frames: ReadonlyArray<SseFrame> }

export interface Server {
  readonly url: string
  readonly requests: ReadonlyArray<Request>
  readonly close: () => Promise<void>
}

const write = (res: ServerResponse, text: string) =>
  new Promise<void>((resolve) => {
    const half = Math.floor(text.length / 2)
    res.write(text.slice(0, half))
    res.write(text.slice(half), () => resolve())
  })

const stream = async (res: ServerResponse, frames: ReadonlyArray<string>, dropAfter: number | undefined) => {
  for (let i = 0; i < frames.length; i++) {
    if (dropAfter !== undefined && i >= dropAfter) {
      res.socket?.destroy()
      return
    }
    await write(res, frames[i]!)
  }
  res.end()
}

export const start = async (handler: (request: Request) => Reply | Promise<Reply>): Promise<Server> => {
  const requests: Array<Request> = []
  const server = createServer(async (req, res) => {
    const chunks: Array<Buffer> = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const raw = Buffer.concat(chunks).toString("utf8")
    let body: unknown = raw
    try {
      body = raw.length === 0 ? undefined : JSON.parse(raw)
    } catch {
      // keep the text
    }
    const url = new URL(req.url ?? "/", "http://localhost")
    const request: Request = { method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers: req.headers, body }
    requests.push(request)
    try {
      const reply = await handler(request)
      const status = reply.status ?? 200
      if ("json" in reply) {
        res.writeHead(status, { "Content-Type": "application/json", ...reply.headers }).end(JSON.stringify(reply.json))
      } else if ("text" in reply) {
        res.writeHead(status, { "Content-Type": "text/plain", ...reply.headers }).end(reply.text)
      } else if ("sse" in reply) {
        res.writeHead(status, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", ...reply.headers })
        const sep = reply.separator ?? " "
        const frames = reply.sse.map(
          (f) => `${f.event === undefined ? "" : `event:${sep}${f.event}\n`}data:${sep}${typeof f.data === "string" ? f.data : JSON.stringify(f.data)}\n\n`
        )
        await stream(res, frames, reply.dropAfter)
      } else {
        res.writeHead(status, { "Content-Type": "application/x-ndjson", ...reply.headers })
        await stream(res, reply.ndjson.map((line) => `${typeof line === "string" ? line : JSON.stringify(line)}\n`), reply.dropAfter)
      }
    } catch (error) {
      if (!res.headersSent) res.writeHead(500, { "Content-Type": "application/json" }).end(JSON.stringify({ message: String(error) }))
    }
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** `start` as a scoped Effect. */
export const make = (handler: (request: Request) => Reply | Promise<Reply>): Effect.Effect<Server, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(handler)),
    (server) => Effect.promise(() => server.close())
  )

/** Takes the next scripted item, or answers 500 naming what ran out (so a test fails with a clear reason). */
export const next = <A>(script: Array<A>, what: string): A => {
  const item = script.shift()
  if (item === undefined) throw new Error(`the fake's ${what} script is exhausted`)
  return item
}
