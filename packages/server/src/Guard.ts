/**
 * What every request passes before any route sees it: the browser-origin check (CSRF), the request size
 * limit and the security headers on every response.
 *
 * - **Origin**: a request that says where it comes from (`Origin`, or `Sec-Fetch-Site: cross-site`) must come
 *   from an allowed origin: the server's own (the `Host` it was called with) unless `allowedOrigins` lists
 *   others (behind a reverse proxy, list the public origin). Requests without `Origin` (curl, SDKs, server
 *   to server) pass: they carry no ambient credentials a foreign page could borrow, since credentials are
 *   bearer tokens, never cookies.
 * - **Size**: a body over `maxBodyBytes` is refused with 413 from its `Content-Length` before it is read;
 *   a chunked body is cut at the same limit as it is read.
 *
 * @since 0.1.0
 */
import { layerConstructor } from "@agentloop/core/internal/layerConstructor"
import { ByteSize, Effect, Layer } from "effect"
import { HttpIncomingMessage, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"

export interface Options {
  /** Origins (`scheme://host[:port]`) allowed besides the server's own. */
  readonly allowedOrigins?: ReadonlyArray<string>
  /** Default 64 KiB: a prompt, a decision or an AG-UI conversation fits. */
  readonly maxBodyBytes?: number
}

export const defaultMaxBodyBytes = 64 * 1024

/** Why a request is refused, or undefined to let it through (pure). */
export const refusal = (
  request: { readonly method: string; readonly headers: Readonly<Record<string, string | undefined>> },
  options: Options = {}
): { readonly status: number; readonly message: string } | undefined => {
  const headers = request.headers
  const max = options.maxBodyBytes ?? defaultMaxBodyBytes
  const length = headers["content-length"]
  if (length !== undefined && !(Number(length) <= max)) {
    return { status: 413, message: `The request body is larger than ${max} bytes` }
  }
  const origin = headers["origin"]
  if (origin !== undefined) {
    if (!originAllowed(origin, headers["host"], options.allowedOrigins ?? [])) {
      return { status: 403, message: `Requests from origin ${JSON.stringify(origin)} are not allowed` }
    }
  } else if (headers["sec-fetch-site"] === "cross-site") {
    return { status: 403, message: "Cross-site requests are not allowed" }
  }
  return undefined
}

const originAllowed = (origin: string, host: string | undefined, allowed: ReadonlyArray<string>): boolean => {
  if (allowed.includes(origin)) return true
  try {
    const url = new URL(origin)
    return host !== undefined && (url.protocol === "http:" || url.protocol === "https:") && url.host === host
  } catch {
    return false
  }
}

/** Headers on every response: no sniffing, no framing, no referrer. */
export const securityHeaders: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer"
}

/** The guard as a global router middleware. A layer and its constructor: `Guard.layer` (defaults) or `Guard.layer(options)`. */
export const layer: Layer.Layer<never, never, HttpRouter.HttpRouter> & ((options?: Options) => Layer.Layer<never, never, HttpRouter.HttpRouter>) = layerConstructor((options: Options = {}) =>
  HttpRouter.middleware(
    (httpEffect) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        const refused = refusal({ method: request.method, headers: request.headers }, options)
        const response = refused === undefined
          ? Effect.provideService(httpEffect, HttpIncomingMessage.MaxBodySize, ByteSize.bytes(BigInt(options.maxBodyBytes ?? defaultMaxBodyBytes)))
          : Effect.succeed(HttpServerResponse.jsonUnsafe({ _tag: refused.status === 413 ? "PayloadTooLarge" : "Forbidden", message: refused.message }, { status: refused.status }))
        return Effect.map(response, HttpServerResponse.setHeaders(securityHeaders))
      }),
    { global: true }
  ))
