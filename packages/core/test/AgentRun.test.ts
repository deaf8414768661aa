/**
 * The one-call entry points (`Agent.run` / `Agent.resume` and their Promise twins), the approval layers as
 * values and constructors, and `Toolkit.LayerOf`.
 */
import { Agent, AgentBackend, type AgentEvent, Approval, LanguageModel, RunStore, Tool, Toolkit } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import type { HttpClient } from "effect/http"

const S = ScriptedModel

const Deploy = Tool.make("deploy", {
  description: "Deploy a version.",
  parameters: { version: Schema.String },
  success: Schema.String,
  requiresApproval: true
})
const Status = Tool.make("status", { description: "The current version.", success: Schema.String })
const toolkit = Toolkit.make(Deploy, Status)
const agent = Agent.make({ name: "release-bot", toolkit })

/** Handlers that record what ran, as plain functions (the form `Agent.run` takes besides a layer). */
const recording = () => {
  const ran: Array<string> = []
  const handlers = {
    deploy: ({ version }: { readonly version: string }) => Effect.sync(() => (ran.push(`deploy ${version}`), `deployed ${version}`)),
    status: () => Effect.sync(() => (ran.push("status"), "4.1.0"))
  }
  return { ran, handlers }
}

/** A store instance the test can read, as a layer (built once, so every run sees the same runs). */
const inspectableStore = () => {
  const store = Effect.runSync(Effect.provide(RunStore.RunStore, RunStore.layerMemory))
  return { store, layer: Layer.succeed(RunStore.RunStore, store) }
}

const toolResults = (model: ScriptedModel.ScriptedModel, request: number) =>
  model.requests[request]!.messages.flatMap((m) => (m._tag === "ToolMessage" ? [m.content] : []))

describe("Agent.run / Agent.resume", () => {
  it.effect("by default a gated call suspends, the run is kept in this process, and a later resume completes it", () =>
    Effect.gen(function* () {
      const model = S.make([S.toolCall("deploy", { version: "4.2.0" }), S.text("4.2.0 is live.")])
      const { ran, handlers } = recording()
      const events: Array<AgentEvent.AgentEvent> = []
      const options = { model: model.layerUnchecked, handlers, onEvent: (event: AgentEvent.AgentEvent) => void events.push(event) }

      const first = yield* Agent.run(agent, "Ship 4.2.0", options)
      expect(first._tag).toBe("Suspended")
      if (first._tag !== "Suspended") return
      expect(ran).toEqual([])
      expect(first.pending.map((p) => [p.toolName, p.toolCallId, p.arguments])).toEqual([["deploy", "call_1_1", { version: "4.2.0" }]])
      expect(events[0]?._tag).toBe("RunStarted")
      expect(events.map((e) => e._tag)).toContain("ApprovalRequested")
      expect(events.at(-1)).toMatchObject({ _tag: "RunFinished", outcome: { _tag: "Suspended" } })

      events.length = 0
      // Another call, another layer build: the run is found in the process's default store.
      const second = yield* Agent.resume(agent, first.runId, first.pending.map((p) => Approval.approve(p, { by: "me" })), options)
      expect(second).toMatchObject({ _tag: "Completed", runId: first.runId, text: "4.2.0 is live.", steps: 2 })
      expect(ran).toEqual(["deploy 4.2.0"])
      expect(events[0]).toMatchObject({ _tag: "RunStarted", resumed: true })
      expect(events.find((e) => e._tag === "ApprovalDecided")).toMatchObject({ approved: true, decidedBy: "me" })
      yield* model.assertComplete
    }))

  it.effect("a denied call never runs; the model sees the reason", () =>
    Effect.gen(function* () {
      const model = S.make([S.toolCall("deploy", { version: "9.9.9" }), S.text("Not deploying.")])
      const { ran, handlers } = recording()
      const first = yield* Agent.run(agent, "Ship 9.9.9", { model: model.layerUnchecked, handlers })
      if (first._tag !== "Suspended") throw new Error(`expected Suspended, got ${first._tag}`)
      const outcome = yield* Agent.resume(agent, first.runId, [Approval.deny(first.pending[0]!, "frozen for the holidays")], {
        model: model.layerUnchecked,
        handlers
      })
      expect(outcome).toMatchObject({ _tag: "Completed", text: "Not deploying." })
      expect(ran).toEqual([])
      expect(toolResults(model, 1).join("\n")).toContain("frozen for the holidays")
    }))

  it.effect("options win over the context, and the context over the defaults", () =>
    Effect.gen(function* () {
      const { ran, handlers } = recording()
      // Approvals from the context (auto-approve) instead of the default (suspend).
      const approved = yield* Agent.run(agent, "Ship 1.0", {
        model: S.make([S.toolCall("deploy", { version: "1.0" }), S.text("done")]).layer,
        handlers
      }).pipe(Effect.provide(Approval.layerAutoApprove))
      expect(approved).toMatchObject({ _tag: "Completed", text: "done" })
      expect(ran).toEqual(["deploy 1.0"])

      // The option (deny all) over the context's auto-approve.
      const denied = yield* Agent.run(agent, "Ship 2.0", {
        model: S.make([S.toolCall("deploy", { version: "2.0" }), S.text("denied")]).layer,
        handlers,
        approvals: Approval.layerDenyAll("no deploys today")
      }).pipe(Effect.provide(Approval.layerAutoApprove))
      expect(denied).toMatchObject({ _tag: "Completed", text: "denied" })
      expect(ran).toEqual(["deploy 1.0"])

      // The store from the context, and the model and handlers too.
      const { store, layer } = inspectableStore()
      const model = S.make([S.toolCall("deploy", { version: "3.0" })])
      const suspended = yield* Agent.run(agent, "Ship 3.0", { runId: "run-from-context" }).pipe(
        Effect.provide([model.layer, toolkit.toLayer(handlers), layer])
      )
      expect(suspended._tag).toBe("Suspended")
      const stored = yield* store.load("run-from-context")
      expect(Option.map(stored, (state) => state.status)).toEqual(Option.some("suspended"))
    }))

  it.effect("handlers may be a toolkit layer, or functions returning Promises (a rejection is an error result)", () =>
    Effect.gen(function* () {
      const model = S.make([S.toolCalls([{ name: "status", args: {} }]), S.text("checked")])
      const viaLayer = yield* Agent.run(agent, "status?", {
        model: model.layer,
        handlers: toolkit.toLayer({ deploy: () => Effect.succeed("no"), status: () => Effect.succeed("4.1.0") })
      })
      expect(viaLayer).toMatchObject({ _tag: "Completed", text: "checked" })
      expect(toolResults(model, 1)).toEqual(["4.1.0"])

      const asyncModel = S.make([S.toolCall("status"), S.toolCall("deploy", { version: "5.0" }), S.text("gave up")])
      const outcome = yield* Agent.run(agent, "status, then deploy", {
        model: asyncModel.layer,
        approvals: Approval.layerAutoApprove,
        handlers: {
          status: async () => "4.1.0",
          deploy: async ({ version }) => {
            throw new Error(`registry down, ${version} not pushed`)
          }
        }
      })
      expect(outcome).toMatchObject({ _tag: "Completed", text: "gave up" })
      expect(toolResults(asyncModel, 1)).toEqual(["4.1.0"])
      expect(toolResults(asyncModel, 2)[1]).toBe('Tool "deploy" failed unexpectedly: registry down, 5.0 not pushed')
    }))
})

describe("Agent.runPromise / Agent.resumePromise", () => {
  it("resolve with the outcome; a resume in a later call completes the run", async () => {
    const model = S.make([S.toolCall("deploy", { version: "4.2.0" }), S.text("live")])
    const { ran, handlers } = recording()
    const lines: Array<string> = []
    const options = { model: model.layerUnchecked, handlers, onEvent: (event: AgentEvent.AgentEvent) => void lines.push(event._tag) }
    const first = await Agent.runPromise(agent, "Ship 4.2.0", options)
    if (first._tag !== "Suspended") throw new Error(`expected Suspended, got ${first._tag}`)
    const done = await Agent.resumePromise(agent, first.runId, first.pending.map((p) => Approval.approve(p)), options)
    expect(done).toMatchObject({ _tag: "Completed", text: "live" })
    expect(ran).toEqual(["deploy 4.2.0"])
    expect(lines.filter((tag) => tag === "RunFinished")).toHaveLength(2)
  })

  it("reject with the typed error itself", async () => {
    const model = S.make([S.error("provider down", { retryable: false })])
    const { handlers } = recording()
    const error = await Agent.runPromise(agent, "x", { model: model.layer, handlers }).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(error).toBeInstanceOf(LanguageModel.ModelError)
    expect(error).toMatchObject({ _tag: "ModelError", message: "provider down" })
  })

  it("an abort interrupts the run, which is stored as resumable", async () => {
    const { store, layer } = inspectableStore()
    const controller = new AbortController()
    let resolveStarted = () => {}
    const started = new Promise<void>((resolve) => (resolveStarted = resolve))
    const running = Agent.runPromise(agent, "status?", {
      model: S.make([S.toolCall("status"), S.text("4.1.0")]).layerUnchecked,
      store: layer,
      runId: "aborted-run",
      signal: controller.signal,
      handlers: { deploy: () => Effect.never, status: () => Effect.andThen(Effect.sync(() => resolveStarted()), Effect.never) }
    })
    await started
    controller.abort()
    await expect(running).rejects.toBeDefined()
    const stored = await Effect.runPromise(store.load("aborted-run"))
    expect(Option.map(stored, (state) => state.status)).toEqual(Option.some("interrupted"))
  })

  it("type-checks what they are given: a model layer that needs a service is refused", () => {
    const needsHttp = Layer.effect(
      LanguageModel.LanguageModel,
      Effect.as(Effect.void, S.make([]).service)
    ) as Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient>
    const { handlers } = recording()
    // @ts-expect-error: the Promise API runs without a context; provide the HttpClient to the model layer first.
    const refused = () => Agent.runPromise(agent, "x", { model: needsHttp, handlers })
    // In Effect the service becomes a requirement of the run instead.
    const required: Effect.Effect<unknown, unknown, HttpClient.HttpClient> = Agent.run(agent, "x", { model: needsHttp, handlers })
    expect(typeof refused).toBe("function")
    expect(Effect.isEffect(required)).toBe(true)
  })
})

describe("approval layers are values and constructors", () => {
  const decide = (approvals: Layer.Layer<Approval.Approvals>) =>
    Effect.flatMap(Approval.Approvals, (service) =>
      service.decide({ runId: "r", step: 1, toolCallId: "c", toolName: "deploy", arguments: {}, argumentsDigest: "d" })
    ).pipe(Effect.provide(approvals))

  it.effect("each form decides as documented", () =>
    Effect.gen(function* () {
      expect(yield* decide(Approval.layerAutoApprove)).toEqual({ _tag: "Approved", by: "auto-approve" })
      expect(yield* decide(Approval.layerAutoApprove())).toEqual({ _tag: "Approved", by: "auto-approve" })
      expect(yield* decide(Approval.layerAutoApprove({ by: "ci" }))).toEqual({ _tag: "Approved", by: "ci" })
      expect(yield* decide(Approval.layerSuspend)).toEqual({ _tag: "Suspend" })
      expect(yield* decide(Approval.layerSuspend())).toEqual({ _tag: "Suspend" })
      expect(yield* decide(Approval.layerSuspend({ expiresIn: "1 hour" }))).toEqual({ _tag: "Suspend", expiresIn: "1 hour" })
      expect(yield* decide(Approval.layerDenyAll)).toEqual({
        _tag: "Denied",
        reason: "Tool calls that need approval are not allowed here.",
        by: "deny-all"
      })
      expect(yield* decide(Approval.layerDenyAll("not here"))).toEqual({ _tag: "Denied", reason: "not here", by: "deny-all" })
    }))

  it.effect("the value form composes like any layer", () =>
    Effect.gen(function* () {
      expect(Layer.isLayer(Approval.layerSuspend)).toBe(true)
      const { handlers } = recording()
      const model = S.make([S.toolCall("deploy", { version: "1.0" })])
      const backend = AgentBackend.layerLocal(agent).pipe(
        Layer.provide(Layer.mergeAll(model.layer, toolkit.toLayer(handlers), Approval.layerSuspend, RunStore.layerMemory))
      )
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "Ship 1.0" })).pipe(Effect.provide(backend))
      expect(outcome._tag).toBe("Suspended")
    }))
})

describe("Toolkit.LayerOf", () => {
  it.effect("types a handler layer so that a backend's layer accepts it", () =>
    Effect.gen(function* () {
      const handlers: Toolkit.LayerOf<typeof toolkit> = toolkit.toLayer({
        deploy: ({ version }) => Effect.succeed(`deployed ${version}`),
        status: () => Effect.succeed("4.1.0")
      })
      // @ts-expect-error: a layer typed as providing nothing does not serve the toolkit's handlers.
      const wrong: Toolkit.LayerOf<typeof toolkit> = Layer.empty
      const model = S.make([S.toolCall("status"), S.text("ok")])
      const outcome = yield* Agent.run(agent, "status?", { model: model.layer, handlers })
      expect(outcome).toMatchObject({ _tag: "Completed", text: "ok" })
      expect(Layer.isLayer(wrong)).toBe(true)
    }))
})
