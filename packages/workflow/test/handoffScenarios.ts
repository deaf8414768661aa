/**
 * Cross-process scenarios of a run that hands off (AGENT=handoff, see fixtures.ts `handoffLayer`), for every
 * single-runner engine: triage looks the order up and hands off to billing, whose refund needs approval.
 * Each process is a real `process.ts`; the log shows which process asked the model
 * (`model <agent>:<turn>:<system prompt>`) and ran a tool (`tool <key> <tool>`).
 */
import { Approval } from "@agentloop/core"
import { join } from "node:path"
import { expect, it } from "vitest"
import { decodePending, dir, encodeDecision, type Engine, linesOf, TIMEOUT, unique } from "./scenarios.js"
import { run, wasKilled } from "./spawn.js"

const TRIAGE = "You_route_customer_requests."
const BILLING = "You_handle_refunds."

export const handoffScenarios = (engine: Engine, target: (name: string) => string, env: Record<string, string> = {}) => {
  const id = (runId: string) => `${runId}-${engine}-${unique}`
  const proc = (name: string, runId: string, log: string, mode: string, extra: ReadonlyArray<string> = []) =>
    run([engine, target(name), id(runId), log, mode, ...extra], { env: { ...env, AGENT: "handoff" } })
  const startSuspended = async (name: string, runId: string, log: string) => {
    const first = await proc(name, runId, log, "start")
    expect(first.status, first.output).toBe(0)
    expect(first.result).toMatchObject({
      _tag: "Suspended",
      pending: [{ runId: id(runId), toolCallId: "call-refund", toolName: "refund", arguments: { orderId: "42", amount: 30 }, step: 3, agent: "durable-billing" }]
    })
    return decodePending(first.result.pending[0])
  }

  it("handoff: suspended on billing's approval after the handoff, the process exits; a fresh process decides and billing goes on; nothing finished runs again", async () => {
    const log = join(dir, `${engine}-handoff-a.log`)
    const pending = await startSuspended("handoff-a", "handoff-a", log)
    const second = await proc("handoff-a", "handoff-a", log, "decide", [encodeDecision(Approval.approve(pending, { by: "fresh-process" }))])
    expect(second.status, second.output).toBe(0)
    expect(second.result).toMatchObject({ _tag: "Completed", outcome: { _tag: "Completed", text: "Billing: refunded $30 on 42", steps: 4, agent: "durable-billing" } })
    const lines = linesOf(log)
    const pidA = lines[0]![0]
    expect(lines.map(([pid, what, arg, tool]) => [pid === pidA ? "A" : "B", what, arg, ...(tool === undefined ? [] : [tool])])).toEqual([
      ["A", "model", `triage:1:${TRIAGE}`],
      ["A", "tool", `${id("handoff-a")}:call-lookup`, "lookup_order"],
      ["A", "model", `triage:2:${TRIAGE}`],
      ["A", "model", `billing:1:${BILLING}`],
      // Process B replayed up to the approval from the engine's records: it reached billing without asking the model.
      ["B", "tool", `${id("handoff-a")}:call-refund`, "refund"],
      ["B", "model", `billing:2:${BILLING}`]
    ])
  }, TIMEOUT)

  it("handoff: SIGKILLed inside billing's gated refund; a fresh process recovers with billing: no finished step runs again", async () => {
    const log = join(dir, `${engine}-handoff-b.log`)
    const pending = await startSuspended("handoff-b", "handoff-b", log)
    const crashed = await proc("handoff-b", "handoff-b", log, "crash", [encodeDecision(Approval.approve(pending))])
    expect(wasKilled(crashed), `${crashed.status} ${crashed.signal} ${crashed.output}`).toBe(true)
    const recovered = await proc("handoff-b", "handoff-b", log, "recover")
    expect(recovered.status, recovered.output).toBe(0)
    expect(recovered.result).toMatchObject({ _tag: "Completed", outcome: { text: "Billing: refunded $30 on 42", agent: "durable-billing" } })
    const lines = linesOf(log)
    const tools = lines.filter(([, what]) => what === "tool")
    expect(tools.filter(([, , , tool]) => tool === "lookup_order")).toHaveLength(1)
    // The interrupted refund runs again (at least once), with the same idempotency key, in another process.
    const refunds = tools.filter(([, , , tool]) => tool === "refund")
    expect(refunds).toHaveLength(2)
    expect(new Set(refunds.map(([, , key]) => key))).toEqual(new Set([`${id("handoff-b")}:call-refund`]))
    expect(refunds[0]![0]).not.toBe(refunds[1]![0])
    for (const turn of [`triage:1:${TRIAGE}`, `triage:2:${TRIAGE}`, `billing:1:${BILLING}`, `billing:2:${BILLING}`]) {
      expect(lines.filter(([, what, t]) => what === "model" && t === turn), turn).toHaveLength(1)
    }
  }, TIMEOUT)
}
