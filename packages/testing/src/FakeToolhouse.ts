/**
 * A fake of Toolhouse's Workers API on loopback: `POST /ndjson/{agentId}` starts a run (answering with
 * `X-Toolhouse-Run-ID`), `PUT /ndjson/{agentId}/{runId}` continues it, the plain-text twins stream only the
 * output, and `GET /{agentId}/{runId}` returns the history. Scripted NDJSON lines are written as given:
 * objects as JSON, strings verbatim (so malformed lines can be sent). A body other than `{ message, vars? }`
 * gets a 400; an answer can omit the run id header (`omitRunId`).
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { Context, Effect, type Layer, type Scope } from "effect"
import * as FakeHttp from "./FakeHttp.js"

export type Answer =
  | ReadonlyArray<unknown>
  | FakeHttp.Fault
  | FakeHttp.ErrorAnswer
  | {
      readonly lines: ReadonlyArray<unknown>
      readonly dropAfter?: number
      readonly hostile?: FakeHttp.Hostile
      /** Answer without the `X-Toolhouse-Run-ID` header. */
      readonly omitRunId?: boolean
    }

/** `hostile` and `faults` (see `FakeHttp.Misbehaviour`) apply to every request. */
export interface Options extends FakeHttp.Misbehaviour {
  readonly agentId?: string
  /** Absent: a public worker, callable without a key. */
  readonly apiKey?: string
  readonly answers?: ReadonlyArray<Answer>
}

export interface FakeToolhouse extends FakeHttp.Server {
  readonly agentId: string
  readonly runs: ReadonlyMap<string, Array<{ readonly role: string; readonly content: string }>>
}

const textOf = (line: unknown): string =>
  typeof line === "object" && line !== null && (line as { type?: unknown }).type === "text" ? String((line as { text?: unknown }).text ?? "") : ""

export const make = (options: Options = {}): Effect.Effect<FakeToolhouse, never, Scope.Scope> => {
  const agentId = options.agentId ?? "9f1c2d3e-0000-4000-8000-00000000cafe"
  const answers = [...(options.answers ?? [])]
  const runs = new Map<string, Array<{ role: string; content: string }>>()
  return Effect.map(
    FakeHttp.make((request): FakeHttp.Reply => {
      if (options.apiKey !== undefined && request.headers["authorization"] !== `Bearer ${options.apiKey}`) {
        return { status: 401, json: { error: "Unauthorized: this agent is private" } }
      }
      const match = /^(\/ndjson)?\/([^/]+)(?:\/([^/]+))?$/.exec(request.path)
      if (match === null || decodeURIComponent(match[2]!) !== agentId) return { status: 404, json: { error: "Agent not found" } }
      const ndjson = match[1] !== undefined
      let runId = match[3]
      if (request.method === "GET" && runId !== undefined && !ndjson) {
        const run = runs.get(runId)
        return run === undefined ? { status: 404, json: { error: "Run not found" } } : { json: run }
      }
      if (request.method === "POST" && runId === undefined) {
        runId = randomUUID()
        runs.set(runId, [])
      } else if (request.method !== "PUT" || runId === undefined || !runs.has(runId)) {
        return { status: 404, json: { error: "Run not found" } }
      }
      const extra = FakeHttp.unknownFields(request.body, ["message", "vars"])
      if (typeof request.body?.message !== "string") extra.push("body.message (required)")
      if (extra.length > 0) return { status: 400, json: { error: `Invalid request body: ${extra.join(", ")}` } }
      const run = runs.get(runId)!
      run.push({ role: "user", content: String(request.body?.message ?? "") })
      const answer = FakeHttp.next(answers, "toolhouse")
      if (!Array.isArray(answer) && FakeHttp.isFaultOrError(answer)) return FakeHttp.faultOrErrorReply(answer)
      const scripted = "lines" in answer ? answer : { lines: answer as ReadonlyArray<unknown> }
      const lines = scripted.lines
      run.push({ role: "assistant", content: lines.map(textOf).join("") })
      const headers: Record<string, string> = "omitRunId" in scripted && scripted.omitRunId === true ? {} : { "X-Toolhouse-Run-ID": runId }
      if (!ndjson) return { headers, text: lines.map(textOf).join("") }
      return { headers, ndjson: lines, ...FakeHttp.hostileOf(scripted) }
    }, options),
    (server) => ({ ...server, agentId, runs })
  )
}

/** The running fake, in a layer made by `layer` (e.g. `const fake = yield* FakeToolhouse.Fake` to read its requests). */
export class Fake extends Context.Service<Fake, FakeToolhouse>()("@agentloop/testing/FakeToolhouse") {}

/**
 * The fake for the layer's lifetime, with the layer `model` makes for it: e.g.
 * `FakeToolhouse.layer({ answers }, (fake) => ToolhouseModel.layerFetch({ baseUrl: fake.url, agentId: fake.agentId }))`.
 * No scope to manage: the fake closes with the layer.
 */
export const layer = <ROut, E, R>(options: Options, model: (fake: FakeToolhouse) => Layer.Layer<ROut, E, R>): Layer.Layer<Fake | ROut, E, R> =>
  FakeHttp.layerWith(Fake, make(options), model)
