/** Test support: a fake Heroku on loopback and a client layer pointed at it. */
import { AuditLog, HerokuClient, HerokuTools, type Grant } from "@agentloop/heroku-platform"
import { Toolkit } from "@agentloop/core"
import { FakeHerokuPlatform } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Redacted } from "effect"

export const clientLayer = (fake: FakeHerokuPlatform.FakeHeroku, options: Partial<HerokuClient.Options> = {}) =>
  HerokuClient.layer({ token: Redacted.make("test-token"), baseUrl: fake.url, retryBaseDelay: "5 millis", ...options }).pipe(
    Layer.provide(NodeHttpClient.layerUndici)
  )

/** Runs one tool the way the loop does (Toolkit.execute), against the fake. Returns the execution and the audit log. */
export const runTool = (
  fake: FakeHerokuPlatform.FakeHeroku,
  grant: Grant.Grant,
  name: string,
  args: Record<string, unknown>,
  options: { readonly token?: string; readonly approvedBy?: string } = {}
) =>
  Effect.gen(function* () {
    const resolved = yield* Toolkit.resolve(HerokuTools.toolkit(grant))
    const execution = yield* Toolkit.execute(resolved, { name, args }, {
      runId: "run-test",
      toolCallId: `call-${name}`,
      idempotencyKey: `run-test:call-${name}`,
      ...(options.approvedBy === undefined ? {} : { approval: { decidedBy: options.approvedBy } })
    })
    const audit = yield* Effect.flatMap(AuditLog.AuditLog, (log) => log.entries)
    return { execution, audit }
  }).pipe(
    Effect.provide(
      HerokuTools.layer(grant).pipe(
        Layer.provideMerge(Layer.merge(clientLayer(fake, options.token === undefined ? {} : { token: Redacted.make(options.token) }), AuditLog.layerMemory))
      )
    )
  )
