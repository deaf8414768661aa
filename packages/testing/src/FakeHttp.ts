/**
 * The small HTTP server the hosted-API fakes share: real HTTP on 127.0.0.1, JSON / SSE / NDJSON / text
 * replies, streams written frame by frame (each frame split in two writes at the middle byte, so clients
 * must reassemble, UTF-8 included), and a log of every request.
 *
 * It can misbehave like a real server on a bad day (`Hostile`): CRLF or lone-CR line endings, comments, ids,
 * a BOM, one byte per write, empty writes, stalls before the headers and mid-stream, a reset mid-stream, a
 * clean end before the end marker; and answer with a `Fault` (a reset before any response, a stall) or an
 * `ErrorAnswer` (429 with `Retry-After`, a 5xx HTML page). Every fake takes these for any request.
 *
 * @since 0.1.0
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { type Context, Effect, Layer, type Scope } from "effect"
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

/**
 * How a misbehaving server writes a stream (every option off by default). A fake takes one for all its
 * streams (its `hostile` option) and per answer (`{ hostile, ... }`); the answer's options win.
 */
export interface Hostile {
  /** Line ending of every SSE line or NDJSON line (`"\r"` is for SSE only). Default `"\n"`. */
  readonly eol?: "\n" | "\r\n" | "\r"
  /** SSE: a `: keep-alive` comment line before every frame. */
  readonly comments?: boolean
  /** SSE: an `id:` line in every frame. */
  readonly ids?: boolean
  /** A UTF-8 byte order mark before the body. */
  readonly bom?: boolean
  /**
   * How each frame is written: `halves` (default: two writes split at the middle byte, which may fall
   * inside a UTF-8 sequence), `bytes` (one byte per write), or `whole` (one write).
   */
  readonly writes?: "halves" | "bytes" | "whole"
  /** An empty write after every write. */
  readonly emptyWrites?: boolean
  /** Wait this long (ms) before sending the response headers. */
  readonly stallBeforeHeaders?: number
  /** After this many frames, stop writing for `ms` (then go on). */
  readonly stallAfter?: { readonly frames: number; readonly ms: number }
  /** Reset the connection after this many frames (the response never ends). */
  readonly dropAfter?: number
  /** End the response cleanly after this many frames: the end marker never comes. */
  readonly truncateAfter?: number
  /** End the response cleanly halfway through this frame (0-based): the last line is cut. */
  readonly truncateInside?: number
}

/** A connection-level fault instead of an answer. */
export type Fault =
  /** The request is read (so it may have taken effect), then the connection is reset before any response. */
  | { readonly fault: "reset" }
  /** The request is read, then nothing is sent until the server closes. */
  | { readonly fault: "stall" }

export type Reply =
  | Fault
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
      readonly hostile?: Hostile
    }
  | {
      readonly status?: number
      readonly headers?: Record<string, string>
      /** Each item is one line: strings are written verbatim (to send malformed lines), others as JSON. */
      readonly ndjson: ReadonlyArray<unknown>
      readonly dropAfter?: number
      readonly hostile?: Hostile
    }

/**
 * A scripted HTTP error: the status, the JSON body sent with it (or an HTML page, as a proxy in front of
 * the API sends), and extra headers (e.g. `Retry-After`).
 */
export type ErrorAnswer =
  | { readonly status: number; readonly body: unknown; readonly headers?: Record<string, string> }
  | { readonly status: number; readonly html: string; readonly headers?: Record<string, string> }

export const errorReply = (answer: ErrorAnswer): Reply =>
  "html" in answer
    ? { status: answer.status, headers: { "Content-Type": "text/html; charset=utf-8", ...answer.headers }, text: answer.html }
    : { status: answer.status, json: answer.body, ...(answer.headers === undefined ? {} : { headers: answer.headers }) }

/** A 429 with `Retry-After` (seconds, or an HTTP-date when given a `Date`). */
export const rateLimited = (retryAfter: number | Date, body: unknown = { error: { message: "Rate limit exceeded" } }): ErrorAnswer => ({
  status: 429,
  body,
  headers: { "Retry-After": typeof retryAfter === "number" ? String(retryAfter) : retryAfter.toUTCString() }
})

/** A 5xx with an HTML page, as a load balancer answers. */
export const htmlError = (status: number, title = "Application Error"): ErrorAnswer => ({
  status,
  html: `<!DOCTYPE html><html><head><title>${title}</title></head><body><h1>${title}</h1><p>An error occurred in the application.</p></body></html>`
})

/** Whether a scripted answer is a fault or an HTTP error (which every fake plays the same way). */
export const isFaultOrError = (answer: object): answer is Fault | ErrorAnswer =>
  "fault" in answer || ("status" in answer && ("body" in answer || "html" in answer))

export const faultOrErrorReply = (answer: Fault | ErrorAnswer): Reply => ("fault" in answer ? answer : errorReply(answer))

/**
 * One answer of a fake that plays `ScriptedModel` turns: a turn; a fault or an HTTP error; a turn written
 * by a hostile server (or cut after `dropAfter` frames); or exact SSE frames (to send malformed or unknown
 * events).
 */
export type TurnAnswer =
  | ScriptedModel.Turn
  | Fault
  | ErrorAnswer
  | { readonly turn: ScriptedModel.ReplyTurn; readonly dropAfter?: number; readonly hostile?: Hostile }
  | { readonly frames: ReadonlyArray<SseFrame>; readonly hostile?: Hostile }

/** The hostile options of a scripted answer (its `dropAfter` included); the fake's own apply underneath. */
export const hostileOf = (answer: { readonly hostile?: Hostile; readonly dropAfter?: number }): { readonly hostile?: Hostile } =>
  answer.hostile === undefined && answer.dropAfter === undefined
    ? {}
    : { hostile: { ...answer.hostile, ...(answer.dropAfter === undefined ? {} : { dropAfter: answer.dropAfter }) } }

/** Fields of `body` (an object) that `allowed` does not name, as `path.field` strings. */
export const unknownFields = (body: unknown, allowed: ReadonlyArray<string>, path = "body"): Array<string> =>
  typeof body === "object" && body !== null && !Array.isArray(body) ? Object.keys(body).filter((k) => !allowed.includes(k)).map((k) => `${path}.${k}`) : []

/** A fault or error answered instead of the fake's handler, for the first request that matches. */
export interface InjectedFault {
  readonly method?: string
  /** Matched against the path (without the query). */
  readonly path?: RegExp
  readonly answer: Fault | ErrorAnswer
}

/** What every fake accepts to misbehave: how its streams are written, and faults for chosen requests. */
export interface Misbehaviour {
  readonly hostile?: Hostile
  /** Consumed in order: each one answers the first request that matches it. */
  readonly faults?: ReadonlyArray<InjectedFault>
}

export interface Server {
  readonly url: string
  readonly requests: ReadonlyArray<Request>
  readonly close: () => Promise<void>
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    // Unref'd: a stalled fake never keeps the test process alive.
    setTimeout(resolve, ms).unref()
  })

const writeBytes = (res: ServerResponse, bytes: Buffer) =>
  new Promise<void>((resolve) => {
    if (res.destroyed) return resolve()
    res.write(bytes, () => resolve())
  })

const writeFrame = async (res: ServerResponse, text: string, hostile: Hostile) => {
  const bytes = Buffer.from(text, "utf8")
  const writes =
    hostile.writes === "bytes"
      ? [...bytes].map((b) => Buffer.of(b))
      : hostile.writes === "whole"
        ? [bytes]
        : [bytes.subarray(0, Math.floor(bytes.length / 2)), bytes.subarray(Math.floor(bytes.length / 2))]
  for (const piece of writes) {
    await writeBytes(res, piece)
    if (hostile.emptyWrites === true) await writeBytes(res, Buffer.alloc(0))
  }
}

const stream = async (res: ServerResponse, frames: ReadonlyArray<string>, hostile: Hostile) => {
  for (let i = 0; i < frames.length; i++) {
    if (hostile.dropAfter !== undefined && i >= hostile.dropAfter) {
      res.socket?.destroy()
      return
    }
    if (hostile.truncateAfter !== undefined && i >= hostile.truncateAfter) break
    if (hostile.stallAfter !== undefined && i === hostile.stallAfter.frames) await sleep(hostile.stallAfter.ms)
    if (res.destroyed) return
    const eol = hostile.eol ?? "\n"
    let text = eol === "\n" ? frames[i]! : frames[i]!.replace(/\n/g, eol)
    if (i === hostile.truncateInside) text = text.slice(0, Math.floor(text.length / 2))
    await writeFrame(res, i === 0 && hostile.bom === true ? `\uFEFF${text}` : text, hostile)
    if (i === hostile.truncateInside) break
  }
  res.end()
}

const sseFrame = (frame: SseFrame, index: number, sep: string, hostile: Hostile) =>
  `${hostile.comments === true ? ": keep-alive\n" : ""}${hostile.ids === true ? `id:${sep}${index + 1}\n` : ""}${
    frame.event === undefined ? "" : `event:${sep}${frame.event}\n`
  }data:${sep}${typeof frame.data === "string" ? frame.data : JSON.stringify(frame.data)}\n\n`

export const start = async (handler: (request: Request) => Reply | Promise<Reply>, defaults: Misbehaviour = {}): Promise<Server> => {
  const requests: Array<Request> = []
  const faults = [...(defaults.faults ?? [])]
  const injected = (request: Request): Reply | undefined => {
    const index = faults.findIndex((f) => (f.method === undefined || f.method === request.method) && (f.path === undefined || f.path.test(request.path)))
    if (index === -1) return undefined
    const [fault] = faults.splice(index, 1)
    return faultOrErrorReply(fault!.answer)
  }
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
      const reply = injected(request) ?? (await handler(request))
      if ("fault" in reply) {
        if (reply.fault === "reset") req.socket.destroy()
        return
      }
      const status = reply.status ?? 200
      const hostile: Hostile = { ...defaults.hostile, ...("hostile" in reply ? reply.hostile : undefined) }
      if (hostile.stallBeforeHeaders !== undefined) await sleep(hostile.stallBeforeHeaders)
      if (res.destroyed) return
      if ("json" in reply) {
        res.writeHead(status, { "Content-Type": "application/json", ...reply.headers }).end(JSON.stringify(reply.json))
      } else if ("text" in reply) {
        res.writeHead(status, { "Content-Type": "text/plain", ...reply.headers }).end(reply.text)
      } else if ("sse" in reply) {
        res.writeHead(status, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", ...reply.headers })
        const sep = reply.separator ?? " "
        const dropped = reply.dropAfter === undefined ? hostile : { ...hostile, dropAfter: reply.dropAfter }
        await stream(res, reply.sse.map((f, i) => sseFrame(f, i, sep, hostile)), dropped)
      } else {
        res.writeHead(status, { "Content-Type": "application/x-ndjson", ...reply.headers })
        const dropped = reply.dropAfter === undefined ? hostile : { ...hostile, dropAfter: reply.dropAfter }
        await stream(res, reply.ndjson.map((line) => `${typeof line === "string" ? line : JSON.stringify(line)}\n`), dropped)
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
export const make = (
  handler: (request: Request) => Reply | Promise<Reply>,
  defaults: Misbehaviour = {}
): Effect.Effect<Server, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(handler, defaults)),
    (server) => Effect.promise(() => server.close())
  )

/**
 * A fake as a layer, so a test need not know it is scoped: started when the layer is built and closed with
 * it, provided as `tag` (for its recorded requests), beside the layer `model` makes for it (an adapter's
 * layer pointed at the fake's URL).
 */
export const layerWith = <Id, F, ROut, E, R>(
  tag: Context.Key<Id, F>,
  start: Effect.Effect<F, never, Scope.Scope>,
  model: (fake: F) => Layer.Layer<ROut, E, R>
): Layer.Layer<Id | ROut, E, R> => Layer.unwrap(Effect.map(start, (fake) => Layer.merge(Layer.succeed(tag, fake), model(fake))))

/** Takes the next scripted item, or answers 500 naming what ran out (so a test fails with a clear reason). */
export const next = <A>(script: Array<A>, what: string): A => {
  const item = script.shift()
  if (item === undefined) throw new Error(`the fake's ${what} script is exhausted`)
  return item
}
