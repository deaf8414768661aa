/**
 * The agent, tools and controllable fakes the adversarial suites share (in the test process and in the
 * racing child processes): handlers that log every execution (optionally to an append-only file, so
 * duplicates across processes are visible), and gates that hold a model step or a tool call until the
 * test interrupts or kills the run there.
 */
import { Agent, AgentBackend, Approval, LanguageModel, RunClaim, RunStore, Tool, Toolkit } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { Deferred, Duration, Effect, Layer, Schema, Stream } from "effect"
import { appendFileSync } from "node:fs"
import { Deploy } from "../fixtures.js"

export const Note = Tool.make("note", {
  description: "Write a note.",
  parameters: { text: Schema.String },
  success: Schema.String
})
export const toolkit = Toolkit.make(Deploy, Note)
export const agent = Agent.make({ name: "adversarial", toolkit })

export interface Execution {
  readonly tool: string
  readonly args: unknown
  readonly idempotencyKey: string
  readonly approvedBy: string | undefined
}

/**
 * A deployment API that dedupes by idempotency key, as a real one (or your own table of done keys) would:
 * a handler that passes the loop's `idempotencyKey` along makes a re-run of the same call harmless.
 */
export const makeDeployApi = () => {
  const done = new Map<string, string>()
  const effects: Array<string> = []
  return {
    effects,
    deploy: (version: string, idempotencyKey: string): string => {
      const previous = done.get(idempotencyKey)
      if (previous !== undefined) return previous
      effects.push(version)
      const result = `deployed ${version}`
      done.set(idempotencyKey, result)
      return result
    }
  }
}

/** Where a run is held: the Nth model request (1-based), or the Nth execution of a tool. */
export type Point = `model:${number}` | `deploy:${number}` | `note:${number}`

export interface Hold {
  readonly reached: Deferred.Deferred<void>
  readonly release: Deferred.Deferred<void>
}

export const makeWorld = (options: { readonly logFile?: string; readonly label?: string } = {}) => {
  const executions: Array<Execution> = []
  const api = makeDeployApi()
  const holds = new Map<Point, Hold>()
  const counts = new Map<string, number>()
  /**
   * Holds the run at `point` until `release` (or forever, until it is interrupted or its process killed);
   * `reached` completes when the run gets there.
   */
  const holdAt = (point: Point): Hold => {
    const hold = { reached: Deferred.makeUnsafe<void>(), release: Deferred.makeUnsafe<void>() }
    holds.set(point, hold)
    return hold
  }
  const pass = (kind: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      const n = (counts.get(kind) ?? 0) + 1
      counts.set(kind, n)
      const hold = holds.get(`${kind}:${n}` as Point)
      if (hold === undefined) return Effect.void
      holds.delete(`${kind}:${n}` as Point)
      return Effect.andThen(Deferred.succeed(hold.reached, undefined), Deferred.await(hold.release))
    })
  const record = (execution: Execution) => {
    executions.push(execution)
    if (options.logFile !== undefined) {
      appendFileSync(options.logFile, `${execution.tool} ${execution.idempotencyKey} ${options.label ?? "-"}\n`)
    }
  }
  const handlers = toolkit.toLayer({
    deploy: ({ version }, ctx) =>
      Effect.suspend(() => {
        record({ tool: "deploy", args: { version }, idempotencyKey: ctx.idempotencyKey, approvedBy: ctx.approval?.decidedBy })
        return Effect.andThen(pass("deploy"), Effect.sync(() => api.deploy(version, ctx.idempotencyKey)))
      }),
    note: ({ text }, ctx) =>
      Effect.suspend(() => {
        record({ tool: "note", args: { text }, idempotencyKey: ctx.idempotencyKey, approvedBy: ctx.approval?.decidedBy })
        return Effect.as(pass("note"), `noted ${text}`)
      })
  })
  /** The scripted model, held at the points asked for. */
  const model = (turns: ReadonlyArray<ScriptedModel.Turn>) => {
    const scripted = ScriptedModel.make(turns)
    const service: LanguageModel.Service = {
      streamStep: (request) => Stream.unwrap(Effect.as(pass("model"), scripted.service.streamStep(request))),
      pushStep: (request, emit) => Effect.andThen(pass("model"), scripted.service.pushStep!(request, emit))
    }
    return { scripted, layer: Layer.succeed(LanguageModel.LanguageModel, service) }
  }
  /** The local backend over this world. */
  const backend = (
    turns: ReadonlyArray<ScriptedModel.Turn>,
    services: {
      readonly store: Layer.Layer<RunStore.RunStore>
      readonly approvals?: Layer.Layer<Approval.Approvals>
      readonly lease?: Duration.Input
    }
  ) => {
    const m = model(turns)
    const layer = AgentBackend.layerLocal(agent).pipe(
      Layer.provide(
        Layer.mergeAll(
          m.layer,
          handlers,
          services.approvals ?? Approval.layerSuspend(),
          services.store,
          RunClaim.layerLeaseDuration(services.lease ?? Duration.minutes(5))
        )
      )
    )
    return { layer, scripted: m.scripted }
  }
  return { executions, api, holdAt, handlers, model, backend }
}
