/**
 * The fake's request pipeline, in Heroku's order: injected faults first, then the source upload and log
 * session URLs (which carry their own credentials), then the Accept header, the token, its account's request
 * pool, the route and its scope, a second factor where asked, and the handler; every request is recorded.
 *
 * @internal
 */
import { randomUUID } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Fault, Options, RecordedRequest } from "../../FakeHerokuPlatform.js"
import { covers, credential, headerOf, type ratePools } from "./access.js"
import { ERROR_URL, HttpError, type Json, notFound, type Route, takeFault } from "./http.js"
import type { logSessions } from "./logSessions.js"
import { page } from "./paging.js"
import type { SourceStore } from "./sourceRoutes.js"

export interface Pipeline {
  readonly tokens: NonNullable<Options["tokens"]>
  readonly twoFactor: Options["twoFactor"]
  readonly pool: ReturnType<typeof ratePools>
  readonly faults: Array<Fault>
  readonly requests: Array<RecordedRequest>
  readonly sources: SourceStore
  readonly logs: ReturnType<typeof logSessions>
  readonly routes: ReadonlyArray<Route>
}

/** The `http.Server` request listener that answers as Heroku would. */
export const handler = ({ faults, logs, pool, requests, routes, sources, tokens, twoFactor }: Pipeline) => {
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "Content-Type": "application/json", "Request-Id": randomUUID(), ...headers })
    res.end(body === undefined ? "" : JSON.stringify(body))
  }
  const sendError = (res: ServerResponse, error: HttpError, headers: Record<string, string> = {}) =>
    send(res, error.status, { id: error.id, message: error.message, url: ERROR_URL }, headers)

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Array<Buffer> = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const bytes = Buffer.concat(chunks)
    const raw = bytes.toString("utf8")
    const url = new URL(req.url ?? "/", "http://localhost")
    const method = req.method ?? "GET"
    const path = url.pathname
    const record = (status: number, authorized: boolean, response?: unknown) =>
      requests.push({
        // A copy: the state it came from changes with later requests.
        ...(response === undefined ? {} : { response: structuredClone(response) }),
        method,
        path,
        range: req.headers["range"],
        authorized,
        body: raw.length > 0 ? safeJson(raw) : undefined,
        status,
        accept: req.headers["accept"],
        twoFactorCode: headerOf(req, "heroku-two-factor-code")
      })

    const fault = await takeFault(faults, method, path)
    if (fault !== undefined) {
      if (fault.drop === true) {
        record(0, false)
        req.socket.destroy()
        return
      }
      if (fault.status !== undefined && fault.raw !== undefined) {
        record(fault.status, false)
        res.writeHead(fault.status, { "Content-Type": "text/html", "Request-Id": randomUUID(), ...fault.headers }).end(fault.raw)
        return
      }
      if (fault.status !== undefined) {
        record(fault.status, false)
        send(res, fault.status, fault.body ?? { id: fault.status === 503 ? "service_unavailable" : "error", message: "Injected fault", url: ERROR_URL }, fault.headers)
        return
      }
    }

    // A source's upload URL is not the API (S3 on Heroku): raw bytes, no token.
    if (sources.serve(req, res, path, bytes)) {
      record(res.statusCode, false)
      return
    }

    // The log session URL carries its own credential: no Authorization header, no pool.
    const logStatus = logs.serve(res, method, url)
    if (logStatus !== undefined) {
      if (logStatus === 200) record(200, false)
      return
    }

    if (!/^application\/vnd\.heroku\+json;\s*version=3(\.sdk)?$/.test(req.headers["accept"] ?? "")) {
      record(406, false)
      return sendError(res, new HttpError(406, "not_acceptable", "Please set Accept: application/vnd.heroku+json; version=3 header and try again."))
    }
    const token = credential(req.headers["authorization"])
    const scopes = token === undefined ? undefined : tokens[token]
    if (token === undefined || scopes === undefined) {
      record(401, false)
      return sendError(res, new HttpError(401, "unauthorized", "Invalid credentials provided."))
    }
    const free = method === "GET" && path === "/account/rate-limits"
    if (free && !covers(scopes, "identity")) {
      record(403, true)
      return sendError(res, new HttpError(403, "forbidden", "This operation needs the identity scope, which this token does not have."))
    }
    const bucket = pool(token)
    if (!free) {
      if (bucket.tokens < 1) {
        record(429, true)
        return sendError(res, new HttpError(429, "rate_limit", "Your account reached the API rate limit. Please wait a few minutes before making new requests"), {
          "RateLimit-Remaining": "0"
        })
      }
      bucket.tokens -= 1
    }
    const remaining = { "RateLimit-Remaining": String(Math.floor(bucket.tokens)) }
    if (free) {
      const limits = { remaining: Math.floor(bucket.tokens) }
      record(200, true, limits)
      return send(res, 200, limits, remaining)
    }
    for (const route of routes) {
      if (route.method !== method) continue
      const match = route.pattern.exec(path)
      if (match === null) continue
      if (!covers(scopes, route.scope)) {
        record(403, true)
        return sendError(res, new HttpError(403, "forbidden", `This operation needs the ${route.scope} scope, which this token does not have.`), remaining)
      }
      const secondFactor = twoFactor
      if (
        secondFactor !== undefined &&
        secondFactor.paths.test(path) &&
        (secondFactor.methods === undefined || secondFactor.methods.includes(method)) &&
        headerOf(req, "heroku-two-factor-code") !== secondFactor.code
      ) {
        record(403, true)
        return sendError(res, new HttpError(403, "two_factor", "A second authentication factor or pre-authorization is required for this request."), remaining)
      }
      try {
        const body = raw.length === 0 ? {} : (JSON.parse(raw) as Json)
        const result = route.handle(match.slice(1), body)
        if (route.ranges !== undefined && Array.isArray(result.body)) {
          const paged = page(result.body as Array<Json>, req.headers["range"], route.ranges)
          record(paged.status, true, paged.body)
          return send(res, paged.status, paged.body, { ...remaining, ...paged.headers })
        }
        record(result.status ?? 200, true, result.body)
        return send(res, result.status ?? 200, result.body, remaining)
      } catch (error) {
        const httpError = error instanceof HttpError ? error : new HttpError(400, "bad_request", (error as Error).message)
        record(httpError.status, true)
        return sendError(res, httpError, remaining)
      }
    }
    record(404, true)
    return sendError(res, notFound("resource"), remaining)
  }

  return (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error) => {
      if (!res.headersSent) sendError(res, new HttpError(500, "internal_error", String(error)))
    })
  }
}


const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
