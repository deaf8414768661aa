/**
 * An in-process fake of the Heroku Platform API v3 on loopback, for testing clients and agents over real
 * HTTP. It keeps state (apps, dynos, formation, config vars, releases, builds, add-ons, domains,
 * collaborators, pipelines, logs), checks the token's OAuth scopes on every route, enforces one request pool
 * per account (shared by all of the account's tokens), pages lists with `Range`, and answers errors with
 * Heroku's `{ id, message, url }` bodies. It accepts what Heroku accepts: `Authorization: Bearer <token>` or
 * HTTP Basic (the token as the password, as Heroku's own clients send it), `Accept: ...; version=3` or
 * `version=3.sdk`, and Range values that contain dots.
 *
 * Faults can be injected: an error status (e.g. 503, 429), slow responses, dropped connections.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Context, Effect, type Layer, type Scope } from "effect"
import { layerWith } from "./FakeHttp.js"
import { ratePools } from "./internal/fakeHeroku/access.js"
import { appRoutes } from "./internal/fakeHeroku/appRoutes.js"
import { coverageRoutes } from "./internal/fakeHeroku/coverageRoutes.js"
import type { Json } from "./internal/fakeHeroku/http.js"
import { logSessions } from "./internal/fakeHeroku/logSessions.js"
import { makeModel } from "./internal/fakeHeroku/model.js"
import { resourceRoutes } from "./internal/fakeHeroku/resourceRoutes.js"
import { handler } from "./internal/fakeHeroku/server.js"
import { type InferenceOptions, type SourceFile, sourceRoutes, sourceStore } from "./internal/fakeHeroku/sourceRoutes.js"

export type { InferenceOptions, SourceFile } from "./internal/fakeHeroku/sourceRoutes.js"

export type OAuthScope = "identity" | "read" | "write" | "read-protected" | "write-protected" | "global"

export interface Options {
  /** Tokens and their scopes. Default: `{ "test-token": ["global"] }`. */
  readonly tokens?: Readonly<Record<string, ReadonlyArray<OAuthScope>>>
  /** Which account each token belongs to (the pool is per account). Default: every token is the owner's. */
  readonly accounts?: Readonly<Record<string, string>>
  /** Calls on these paths need `Heroku-Two-Factor-Code: <code>`, else `403 two_factor`. */
  readonly twoFactor?: { readonly code: string; readonly paths: RegExp; readonly methods?: ReadonlyArray<string> }
  /** The request pool per account. Default: Heroku's 4,500 refilled at 75 per minute. */
  readonly rateLimit?: { readonly capacity: number; readonly refillPerMinute: number }
  /** The clock the pool refills by (ms). Default `Date.now`. */
  readonly now?: () => number
  readonly accountEmail?: string
  /** Where a `heroku-inference` add-on's `INFERENCE_URL` points, and its key (e.g. a `FakeHerokuInference`). */
  readonly inference?: InferenceOptions
}


export interface Fault {
  readonly status?: number
  readonly body?: Json | ReadonlyArray<Json>
  /** Answer with this text as it is (an HTML error page, a truncated body) instead of JSON. */
  readonly raw?: string
  readonly headers?: Readonly<Record<string, string>>
  /** Close the connection without answering. */
  readonly drop?: boolean
  /** Answer after this many ms. */
  readonly delayMs?: number
  /** Only for requests matching this method and path. */
  readonly method?: string
  readonly path?: RegExp
  /** How many requests it applies to (default 1). */
  times?: number
}

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly range: string | undefined
  readonly authorized: boolean
  readonly body: unknown
  readonly status: number
  /** The Accept header as sent. */
  readonly accept: string | undefined
  /** The `Heroku-Two-Factor-Code` header as sent. */
  readonly twoFactorCode: string | undefined
  /** The JSON body answered (absent for faults, errors before routing and the log-session text). */
  readonly response?: unknown
}

export interface State {
  readonly apps: Map<string, Json>
  readonly dynos: Map<string, Array<Json>>
  readonly formation: Map<string, Array<Json>>
  readonly configVars: Map<string, Record<string, string>>
  readonly releases: Map<string, Array<Json>>
  readonly builds: Map<string, Array<Json>>
  readonly addons: Map<string, Array<Json>>
  readonly domains: Map<string, Array<Json>>
  readonly collaborators: Map<string, Array<Json>>
  readonly pipelines: Map<string, Json>
  readonly logs: Map<string, Array<string>>
  readonly teams: Map<string, Json>
  readonly spaces: Map<string, Json>
  readonly attachments: Map<string, Array<Json>>
  readonly couplings: Map<string, Json>
  readonly promotions: Map<string, Json>
}

export interface AppOptions {
  readonly region?: string
  readonly config?: Record<string, string>
  /** The team (name) that owns the app. */
  readonly team?: string
  /** The private space (name) it runs in. */
  readonly space?: string
}

export interface FakeHeroku {
  readonly url: string
  readonly state: State
  readonly requests: ReadonlyArray<RecordedRequest>
  /** Queue a fault for the next matching request(s). */
  readonly inject: (fault: Fault) => void
  /** Create an app with one web dyno, a formation and a first release. */
  readonly addApp: (name: string, options?: AppOptions) => Json
  /** Create a team (the account is its admin). */
  readonly addTeam: (name: string) => Json
  /** Create a private space owned by a team. */
  readonly addSpace: (name: string, team: string, options?: { readonly region?: string; readonly shield?: boolean }) => Json
  /** Make an app's web dynos crash, with the router errors a real crash leaves in the logs. */
  readonly crash: (app: string) => void
  /** The files uploaded to a source's URL (`POST /sources`), unpacked; undefined when none were. */
  readonly sourceFiles: (url: string) => ReadonlyArray<SourceFile> | undefined
  /** Tokens left in the pool of a token's account right now. */
  readonly remaining: (token?: string) => number
  readonly close: () => Promise<void>
}

/** Starts a fake on 127.0.0.1 with a free port. Close it with `close()`. */
export const start = async (options: Options = {}): Promise<FakeHeroku> => {
  const tokens = options.tokens ?? { "test-token": ["global"] }
  const pool = ratePools(options)
  const faults: Array<Fault> = []
  const requests: Array<RecordedRequest> = []
  let baseUrl = ""
  const model = makeModel(options.accountEmail ?? "owner@example.com", () => baseUrl)
  const sources = sourceStore(() => baseUrl)
  const logs = logSessions(model, () => baseUrl)
  // The first route whose method and pattern match answers.
  const routes = [...appRoutes(model), ...resourceRoutes(model, options.inference), logs.route, ...coverageRoutes(model), ...sourceRoutes(model, sources)]

  const server = createServer(handler({ tokens, twoFactor: options.twoFactor, pool, faults, requests, sources, logs, routes }))
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url: baseUrl,
    state: model.state,
    requests,
    inject: (fault) => void faults.push({ ...fault }),
    addApp: model.addApp,
    addTeam: model.addTeam,
    addSpace: model.addSpace,
    crash: model.crash,
    sourceFiles: sources.files,
    remaining: (token = Object.keys(tokens)[0]!) => Math.floor(pool(token).tokens),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** `start` as a scoped Effect: the server closes with the scope. */
export const make = (options?: Options): Effect.Effect<FakeHeroku, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (fake) => Effect.promise(() => fake.close())
  )

/** The running fake, in a layer made by `layer` (e.g. `const fake = yield* FakeHerokuPlatform.Fake` to read its requests). */
export class Fake extends Context.Service<Fake, FakeHeroku>()("@agentloop/testing/FakeHerokuPlatform") {}

/**
 * The fake for the layer's lifetime, with the layer `model` makes for it: e.g.
 * `FakeHerokuPlatform.layer({}, (fake) => HerokuClient.layer({ baseUrl: fake.url, token: Redacted.make("token") }))`.
 * No scope to manage: the fake closes with the layer.
 */
export const layer = <ROut, E, R>(options: Options, model: (fake: FakeHeroku) => Layer.Layer<ROut, E, R>): Layer.Layer<Fake | ROut, E, R> =>
  layerWith(Fake, make(options), model)
