/** Test support: a fake Heroku on loopback and a client layer pointed at it. */
import { AuditLog, HerokuClient, HerokuTools, type Grant } from "@agentloop/heroku-platform"
import { type Tool, Toolkit } from "@agentloop/core"
import { FakeHerokuPlatform } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Redacted } from "effect"

export const clientLayer = (fake: FakeHerokuPlatform.FakeHeroku, options: Partial<HerokuClient.Options> = {}) =>
  HerokuClient.layer({ token: Redacted.make("test-token"), baseUrl: fake.url, retryBaseDelay: "5 millis", ...options }).pipe(
    Layer.provide(NodeHttpClient.layerUndici)
  )

/** Calls one tool the way the loop does (Toolkit.execute), with the handlers and audit log in the context. */
export const execute = (grant: Grant.Grant, name: string, args: Record<string, unknown>, approvedBy?: string, toolCallId = `call-${name}`) =>
  Effect.gen(function* () {
    const resolved = yield* Toolkit.resolve(HerokuTools.toolkit(grant))
    const context: Tool.HandlerContext = {
      runId: "run-test",
      toolCallId,
      idempotencyKey: `run-test:${toolCallId}`,
      ...(approvedBy === undefined ? {} : { approval: { decidedBy: approvedBy } })
    }
    return yield* Toolkit.execute(resolved, { name, args }, context)
  })

/** Runs one tool against the fake. Returns the execution and the audit log. */
export const runTool = (
  fake: FakeHerokuPlatform.FakeHeroku,
  grant: Grant.Grant,
  name: string,
  args: Record<string, unknown>,
  options: { readonly token?: string; readonly approvedBy?: string } = {}
) =>
  Effect.gen(function* () {
    const execution = yield* execute(grant, name, args, options.approvedBy)
    const audit = yield* Effect.flatMap(AuditLog.AuditLog, (log) => log.entries)
    return { execution, audit }
  }).pipe(
    Effect.provide(
      HerokuTools.layer(grant).pipe(
        Layer.provideMerge(Layer.merge(clientLayer(fake, options.token === undefined ? {} : { token: Redacted.make(options.token) }), AuditLog.layerMemory))
      )
    )
  )
