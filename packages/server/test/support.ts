/**
 * Test support: a release agent whose `deploy` needs approval (its executions counted and, optionally,
 * appended to a file), a server on a free port, the identities, and a small SSE client over fetch.
 */
import { appendFileSync } from "node:fs"
import { Agent, AgentBackend, Approval, Message, RunStore, Tool, Toolkit } from "@agentloop/core"
import { Auth, Runs, Server } from "@agentloop/server"
import { ScriptedModel } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { Context, type Duration, Effect, Exit, Layer, Schema, Scope } from "effect"

export const tokens = {
  admin: { token: "admin-token-0123456789abcdef", subject: "root@example.com", role: "admin" },
  alice: { token: "alice-token-0123456789abcdef", subject: "alice@example.com", role: "approver" },
  bob: { token: "bob-token-0123456789abcdefgh", subject: "bob@example.com", role: "approver" },
  viewer: { token: "viewer-token-0123456789abcdef", subject: "vera@example.com", role: "viewer" }
} as const satisfies Record<string, Auth.Token>

export const Deploy = Tool.make("deploy", {
  description: "Deploy a version to production.",
  parameters: { version: Schema.String, note: Schema.optional(Schema.String) },
  success: Schema.String,
  requiresApproval: true
})

/** The model: deploy first, then report what the tool said (a denial's reason included). */
const releaseTurn = (request: ScriptedModel.RecordedRequest): ScriptedModel.ReplyTurn => {
  const results = request.messages.filter((m): m is Message.ToolMessage => m._tag === "ToolMessage")
  const user = request.messages.find((m): m is Message.UserMessage => m._tag === "UserMessage")?.content ?? ""
  const chunks = /chunks=(\d+)/.exec(user)
  if (user.includes("slow")) return ScriptedModel.text("thinking for a long time", { delay: "60 seconds" })
  const size = Number(/size=(\d+)/.exec(user)?.[1] ?? 100)
  if (chunks !== null) return ScriptedModel.text(Array.from({ length: Number(chunks[1]) }, (_, i) => `chunk ${i} ${"lorem ".repeat(Math.ceil(size / 6))}\n`))
  if (results.length === 0) {
    const note = /note=(\S+)/.exec(user)?.[1]
    return ScriptedModel.toolCall("deploy", { version: /version=(\S+)/.exec(user)?.[1] ?? "4.2.0", ...(note === undefined ? {} : { note }) })
  }
  return ScriptedModel.text(`Tool said: ${results[results.length - 1]!.content}`)
}

export interface ReleaseOptions {
  /** Appends one line per execution (`<runId> <version>`) to this file. */
  readonly executions?: string
  readonly counts?: Map<string, number>
  readonly expiresIn?: Duration.Input
  /** A file store (shared by processes) instead of memory. */
  readonly storeDirectory?: string
  readonly secrets?: ReadonlyArray<string>
}

export const releaseAgent = (options: ReleaseOptions = {}): Runs.Agent<AgentBackend.AgentError> => {
  const toolkit = Toolkit.make(Deploy)
  const agent = Agent.make({ name: "release-bot", toolkit, maxSteps: 6 })
  const model = ScriptedModel.make(Array.from({ length: 100_000 }, () => ScriptedModel.respond(releaseTurn)))
  const store = options.storeDirectory === undefined ? RunStore.layerMemory : RunStore.layerFileSystem(options.storeDirectory).pipe(Layer.provide(NodeServices.layer))
  return {
    description: "Deploys versions, with approval",
    risk: () => "deploys",
    backend: AgentBackend.layerLocal(agent).pipe(
      Layer.provide(
        Layer.mergeAll(
          model.layerUnchecked,
          Approval.layerSuspend(options.expiresIn === undefined ? undefined : { expiresIn: options.expiresIn }),
          store,
          toolkit.toLayer({
            deploy: ({ version }, context) =>
              Effect.sync(() => {
                options.counts?.set(context.runId, (options.counts.get(context.runId) ?? 0) + 1)
                if (options.executions !== undefined) appendFileSync(options.executions, `${context.runId} ${version}\n`)
                return `deployed ${version}`
              })
          })
        )
      )
    )
  }
}

/** An agent without tools whose model answers once, streaming `chunks` as one step's text deltas. */
export const textAgent = (chunks: ReadonlyArray<string>): Runs.Agent<AgentBackend.AgentError> => {
  const toolkit = Toolkit.make()
  const model = ScriptedModel.make(Array.from({ length: 100 }, () => ScriptedModel.text(chunks)))
  return {
    backend: AgentBackend.layerLocal(Agent.make({ name: "writer", toolkit, maxSteps: 1 })).pipe(
      Layer.provide(Layer.mergeAll(model.layerUnchecked, Approval.layerSuspend(), RunStore.layerMemory, toolkit.toLayer({})))
    )
  }
}

export interface TestServer {
  readonly url: string
  readonly runs: Runs.Service
  readonly close: () => Promise<void>
}

/** A server on a free port of 127.0.0.1 with the given agents and the test identities. */
export const startServer = async (
  agents: Record<string, Runs.Agent<any, any>>,
  options: Server.Options & Runs.Options = {}
): Promise<TestServer> => {
  const scope = Effect.runSync(Scope.make())
  const layer = Server.layerNode({ ...options, port: 0 }).pipe(
    Layer.provideMerge(Runs.layer(agents, options)),
    Layer.provide(Auth.layerBearerTokens(Object.values(tokens)))
  )
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope) as Effect.Effect<Context.Context<any>>)
  const url = Effect.runSync(Effect.provideContext(Server.url, context))
  return { url, runs: Context.get(context, Runs.Runs) as Runs.Service, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

export const auth = (who: keyof typeof tokens): Record<string, string> => ({ authorization: `Bearer ${tokens[who].token}` })

export const json = async (url: string, init: RequestInit & { readonly who?: keyof typeof tokens } = {}) => {
  const headers = { "content-type": "application/json", ...(init.who === undefined ? {} : auth(init.who)), ...(init.headers as Record<string, string> | undefined) }
  const response = await fetch(url, { ...init, headers })
  const text = await response.text()
  let body: any
  try {
    body = JSON.parse(text)
  } catch {
    body = text
  }
  return { status: response.status, body, headers: response.headers }
}

export interface Frame {
  readonly id: string | undefined
  readonly event: string
  readonly data: any
}

/** Reads SSE frames from a response body until `stop` says so or the stream ends. */
export const readFrames = async (
  response: Response,
  stop: (frame: Frame, frames: ReadonlyArray<Frame>) => boolean = () => false
): Promise<ReadonlyArray<Frame>> => {
  const frames: Array<Frame> = []
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ""
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return frames
      buffer += value
      let end: number
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const fields: Record<string, string> = {}
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue
          const colon = line.indexOf(":")
          if (colon > 0) fields[line.slice(0, colon)] = (fields[line.slice(0, colon)] === undefined ? "" : `${fields[line.slice(0, colon)]}\n`) + line.slice(colon + 1).replace(/^ /, "")
        }
        if (fields["data"] === undefined) continue
        const frame: Frame = { id: fields["id"], event: fields["event"] ?? "message", data: JSON.parse(fields["data"]) }
        frames.push(frame)
        if (stop(frame, frames)) return frames
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined)
  }
}

/** Opens a run's event stream (from `lastEventId`, if given). */
export const events = (url: string, runId: string, options: { readonly who?: keyof typeof tokens; readonly lastEventId?: string; readonly signal?: AbortSignal } = {}) =>
  fetch(`${url}/api/runs/${runId}/events`, {
    headers: { ...auth(options.who ?? "viewer"), ...(options.lastEventId === undefined ? {} : { "last-event-id": options.lastEventId }) },
    ...(options.signal === undefined ? {} : { signal: options.signal })
  })

/** Starts a run as admin and reads its stream until it suspends or finishes. */
export const startRun = async (url: string, agent: string, input: string, runId?: string) => {
  const response = await fetch(`${url}/api/agents/${agent}/runs`, {
    method: "POST",
    headers: { "content-type": "application/json", ...auth("admin") },
    body: JSON.stringify({ input, ...(runId === undefined ? {} : { runId }) })
  })
  if (response.status !== 200) throw new Error(`start: ${response.status} ${await response.text()}`)
  const frames = await readFrames(response, (frame) => frame.event === "RunFinished")
  const finished = frames[frames.length - 1]!
  return { runId: finished.data.runId as string, frames, outcome: finished.data.outcome }
}

/** Decides an approval as `who`. */
export const decide = (url: string, runId: string, approvalId: string, who: keyof typeof tokens, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  json(`${url}/api/runs/${runId}/approvals/${approvalId}`, { method: "POST", who, body: JSON.stringify(body), headers })

/** Polls until `check` holds (or fails after `timeout` ms). */
export const until = async <A>(read: () => Promise<A>, check: (a: A) => boolean, timeout = 10_000): Promise<A> => {
  const deadline = Date.now() + timeout
  for (;;) {
    const value = await read()
    if (check(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out; last value: ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
