/**
 * Handoffs under the workflow engine: triage hands off to billing (a direct target, so `Durable.layer`'s type
 * asks for billing's handlers), billing's refund needs approval: the workflow suspends with billing speaking,
 * and a decide continues with billing. The speaking agent is not stored apart: it is derived again on each
 * replay from the recorded steps (the handoff call's activity), so a replay reaches the same agent. In memory
 * and on a SQLite file reopened by a fresh runtime; across processes (and a SIGKILL) in HandoffProcess.test.ts.
 */
import { Approval, type Tool } from "@agentloop/core"
import { Durable } from "@agentloop/workflow"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, expectTypeOf } from "vitest"
import { handoffLayer, triageAgent as triage } from "./fixtures.js"

const setup = () => {
  const calls: Array<string> = []
  const runs: Array<string> = []
  const agentLayer = handoffLayer((call) => void calls.push(call), (tool, key) => Effect.sync(() => void runs.push(`${tool} ${key}`)))
  return { calls, runs, agentLayer }
}

const suspended = (runId: string) =>
  Effect.flatMap(Durable.awaitSettled(triage, runId), (status) =>
    status._tag === "Suspended" ? Effect.succeed(status.pending) : Effect.die(new Error(`expected Suspended, got ${JSON.stringify(status)}`))
  )

const untilApproval = ["triage:1:You_route_customer_requests.", "triage:2:You_route_customer_requests.", "billing:1:You_handle_refunds."]

const dirs: Array<string> = []
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

describe("handoffs under Durable", () => {
  it("Durable.layer(triage) typechecks with a direct target and asks for the target's handlers", () => {
    const layer = Durable.layer(triage)
    expectTypeOf<Extract<Layer.Services<typeof layer>, Tool.Handler<"refund">>>().toEqualTypeOf<Tool.Handler<"refund">>()
    expectTypeOf<Extract<Layer.Services<typeof layer>, Tool.Handler<"lookup_order">>>().toEqualTypeOf<Tool.Handler<"lookup_order">>()
    expect(Layer.isLayer(layer)).toBe(true)
  })

  it.live("in memory: the workflow suspends on billing's refund after the handoff; decide goes on with billing; nothing finished runs again", () => {
    const { agentLayer, calls, runs } = setup()
    return Effect.gen(function* () {
      yield* Durable.start(triage, { runId: "handoff-1", input: "I want my $30 back for order 42" })
      const pending = yield* suspended("handoff-1")
      expect(pending).toMatchObject([{ runId: "handoff-1", toolCallId: "call-refund", toolName: "refund", arguments: { orderId: "42", amount: 30 }, step: 3, agent: "durable-billing" }])
      expect(calls).toEqual(untilApproval)
      expect(runs).toEqual(["lookup_order handoff-1:call-lookup"])

      yield* Durable.decide(triage, "handoff-1", Approval.approve(pending[0]!, { by: "alice" }))
      const done = yield* Durable.awaitSettled(triage, "handoff-1")
      expect(done).toMatchObject({ _tag: "Completed", outcome: { _tag: "Completed", text: "Billing: refunded $30 on 42", steps: 4, agent: "durable-billing" } })
      // The replay reached billing again from the recorded steps: billing's instructions and tools, one new model call.
      expect(calls).toEqual([...untilApproval, "billing:2:You_handle_refunds."])
      expect(runs).toEqual(["lookup_order handoff-1:call-lookup", "refund handoff-1:call-refund"])
    }).pipe(Effect.provide(agentLayer.pipe(Layer.provideMerge(Durable.layerMemory))))
  })

  it.live("in memory: a denial reaches billing's model as the tool result; refund never runs", () => {
    const { agentLayer, runs } = setup()
    return Effect.gen(function* () {
      yield* Durable.start(triage, { runId: "handoff-2", input: "I want my $30 back for order 42" })
      const pending = yield* suspended("handoff-2")
      yield* Durable.decide(triage, "handoff-2", Approval.deny(pending[0]!, "over the limit", { by: "ops" }))
      const done = yield* Durable.awaitSettled(triage, "handoff-2")
      expect(done).toMatchObject({ outcome: { text: "Billing: Error: request to call tool denied. User reason: over the limit" } })
      expect(runs).toEqual(["lookup_order handoff-2:call-lookup"])
    }).pipe(Effect.provide(agentLayer.pipe(Layer.provideMerge(Durable.layerMemory))))
  })

  it.live("SQLite: a fresh runtime on the same file after the suspension takes the decision and goes on with billing; nothing finished runs again", () => {
    const dir = mkdtempSync(join(tmpdir(), "agentloop-durable-handoff-"))
    dirs.push(dir)
    const { agentLayer, calls, runs } = setup()
    const onFile = () => agentLayer.pipe(Layer.provideMerge(Durable.layerSqlite({ filename: join(dir, "handoff.db"), pollInterval: "100 millis" })))
    return Effect.gen(function* () {
      const pending = yield* Effect.scoped(
        Effect.provide(Effect.andThen(Durable.start(triage, { runId: "handoff-sql", input: "I want my $30 back for order 42" }), suspended("handoff-sql")), onFile())
      )
      expect(pending).toMatchObject([{ toolCallId: "call-refund", toolName: "refund", agent: "durable-billing" }])
      // The first runtime is closed (its file lock released); a new one opens the same file.
      const done = yield* Effect.scoped(
        Effect.provide(
          Effect.andThen(Durable.decide(triage, "handoff-sql", Approval.approve(pending[0]!, { by: "alice" })), Durable.awaitSettled(triage, "handoff-sql")),
          onFile()
        )
      )
      expect(done).toMatchObject({ _tag: "Completed", outcome: { text: "Billing: refunded $30 on 42", agent: "durable-billing" } })
      expect(calls).toEqual([...untilApproval, "billing:2:You_handle_refunds."])
      expect(runs).toEqual(["lookup_order handoff-sql:call-lookup", "refund handoff-sql:call-refund"])
    })
  })
})
