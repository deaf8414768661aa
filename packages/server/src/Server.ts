/**
 * The whole server as Layers: the HTTP API (with its OpenAPI document at `/api/openapi.json`), the
 * approvals console at `/console/`, and the guard (origin check, size limits, security headers) in front of
 * both. `layer` registers routes on an `HttpRouter` you serve; `layerNode` serves them on a Node HTTP server.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { layerConstructor } from "@agentloop/core/internal/layerConstructor"
import { Effect, type FileSystem, Layer, type Path } from "effect"
import { type Etag, type HttpPlatform, HttpRouter, HttpServer } from "effect/http"
import type { Authenticator } from "./Auth.js"
import { HttpApiBuilder, HttpApiMiddleware } from "effect/http-api"
import { ServerApi } from "./Api.js"
import * as Console from "./Console.js"
import * as Guard from "./Guard.js"
import { layerAuthentication, layerRuns } from "./Handlers.js"
import type { Runs } from "./Runs.js"

export interface Options extends Guard.Options {
  /** Serve the approvals console at `/console/`. Default true. */
  readonly console?: boolean
}

export const openapiPath = "/api/openapi.json"

/** What `layer` needs: the agents (`Runs`), an `Authenticator`, and the platform's HTTP and file services. */
export type Requirements =
  | Runs
  | Authenticator
  | HttpRouter.HttpRouter
  | HttpPlatform.HttpPlatform
  | Etag.Generator
  | FileSystem.FileSystem
  | Path.Path

/**
 * The server's routes; needs `Runs` (the agents), an `Authenticator` and the platform's HTTP services. A layer
 * and its constructor: `Server.layer` (defaults) or `Server.layer(options)`.
 */
export const layer: Layer.Layer<never, never, Requirements> & ((options?: Options) => Layer.Layer<never, never, Requirements>) = layerConstructor((options: Options = {}) =>
  Layer.mergeAll(
    HttpApiBuilder.layer(ServerApi, { openapiPath }).pipe(
      Layer.provide(layerRuns.pipe(Layer.provide(layerAuthentication))),
      Layer.provide(HttpApiMiddleware.layerProblemDetails({ includeDetails: true }))
    ),
    Guard.layer(options),
    options.console === false ? Layer.empty : Console.layer
  ))

/** Serves `layer(options)` on a Node HTTP server listening on `port` (0: any free port) at `host`. */
export const layerNode = (options: Options & { readonly port: number; readonly host?: string }) =>
  HttpRouter.serve(layer(options), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: options.port, host: options.host ?? "127.0.0.1" }))
  )

/** The base URL the server listens on (e.g. `http://127.0.0.1:8080`). */
export const url: Effect.Effect<string, never, HttpServer.HttpServer> = Effect.map(HttpServer.HttpServer, (server) => {
  const address = server.address
  if (address._tag === "UnixPathAddress") return `http+unix://${encodeURIComponent(address.path)}`
  const host = address._tag === "InetAddressV6" ? `[${String(address.address)}]` : String(address.address)
  return `http://${host}:${address.port}`
})
