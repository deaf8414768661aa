/**
 * A run suspended on an approval after a handoff, in one OS process, is resumed by another from the file
 * store and goes on with the agent it was handed to. Processes are spawned asynchronously. Races: two
 * processes started together resume the same runs (suspended after a handoff) for 20 rounds, in lockstep
 * through barrier files: exactly one wins each round, and the gated tool runs once per round (ran.log is
 * appended as each tool runs).
 */
import { AgentBackend, Approval, RunState, RunStore } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, describe, expect, it } from "vitest"
import { backend } from "../examples/handoff-triage.js"

const ROUNDS = 20

const script = join(import.meta.dirname, "support", "handoff-process.ts")
const tsx = join(import.meta.dirname, "..", "node_modules", ".bin", "tsx")
const dirs: Array<string> = []
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

type Result = { outcome: unknown; ran: Array<string>; speakers: Array<string> }
const spawn = (...args: ReadonlyArray<string>) =>
  promisify(execFile)(tsx, [script, ...args], { encoding: "utf8", timeout: 180_000 }).then(
    ({ stdout }) => ({ ok: true as const, result: JSON.parse(stdout) as Result }),
    (error: { stderr?: string }) => ({ ok: false as const, stderr: error.stderr ?? String(error) })
  )

const ranLog = (dir: string) => (existsSync(join(dir, "ran.log")) ? readFileSync(join(dir, "ran.log"), "utf8").trim().split("\n").filter((l) => l.length > 0) : [])
const encode = (decisions: ReadonlyArray<Approval.ApprovalDecision>) => JSON.stringify(Schema.encodeSync(Schema.Array(Approval.ApprovalDecision))(decisions))

/** Suspends runs `race-<i>` (here, in-process, on the file store in `dir`) after the handoff, on billing's refund of order <i>. */
const suspendRounds = (dir: string) => {
  const model = S.make(
    Array.from({ length: ROUNDS }, (_, i) => [
      S.toolCall("lookup_order", { orderId: `${i}` }, { id: "call_lookup" }),
      S.toolCall("transfer_to_billing", {}, { id: "call_to_billing" }),
      S.toolCall("refund", { orderId: `${i}`, amount: 30 }, { id: "call_refund" })
    ]).flat()
  )
  const store = RunStore.layerFileSystem(dir).pipe(Layer.provide(NodeServices.layer))
  return Effect.gen(function* () {
    const b = yield* AgentBackend.AgentBackend
    return yield* Effect.forEach(Array.from({ length: ROUNDS }, (_, i) => `race-${i}`), (runId) =>
      Effect.map(b.run({ input: "I want my $30 back", runId }), (outcome) => {
        if (outcome._tag !== "Suspended" || outcome.pending[0]?.toolName !== "refund") throw new Error(`expected Suspended on refund, got ${JSON.stringify(outcome)}`)
        return [Approval.approve(outcome.pending[0], { by: "alice" })]
      })
    )
  }).pipe(Effect.provide(backend({ ran: [], model: model.layer, store })))
}

const suspendInProcessA = async (dir: string, runId: string) => {
  const first = await spawn("start", dir, runId)
  if (!first.ok) throw new Error(first.stderr)
  const suspended = Schema.decodeUnknownSync(RunState.Suspended)(first.result.outcome)
  expect(first.result.ran).toEqual(["lookup:42"])
  expect(first.result.speakers).toEqual(["RunStarted:triage", "StepStarted:triage", "StepStarted:triage", "StepStarted:billing"])
  expect(suspended.pending.map((p) => p.toolName)).toEqual(["refund"])
  expect(JSON.parse(readFileSync(join(dir, `${runId}.json`), "utf8"))).toMatchObject({ agent: "triage", currentAgent: "billing", status: "suspended" })
  return encode([Approval.approve(suspended.pending[0]!, { by: "process-b" })])
}

describe("handoff then approval, across processes (file store)", () => {
  it("process A suspends while billing speaks and exits; process B resumes with billing, which hands back to triage", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agentloop-handoff-"))
    dirs.push(dir)
    const decisions = await suspendInProcessA(dir, "h-1")
    const second = await spawn("resume", dir, "h-1", decisions)
    if (!second.ok) throw new Error(second.stderr)
    expect(second.result.outcome).toMatchObject({ _tag: "Completed", text: "Your refund of $30 is on its way. Anything else?" })
    expect(second.result.ran).toEqual(["refund:42:30"])
    expect(second.result.speakers).toEqual(["RunStarted:billing", "StepStarted:billing", "StepStarted:triage"])
    const stored = JSON.parse(readFileSync(join(dir, "h-1.json"), "utf8")) as Record<string, unknown>
    expect(stored).toMatchObject({ status: "completed", agent: "triage", handoffs: 2 })
    expect(stored.currentAgent).toBeUndefined()
  }, 120_000)

  it(`${ROUNDS} rounds of two processes started together resuming a run suspended after a handoff: exactly one wins each round, the refund runs once per round`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "agentloop-handoff-race-"))
    dirs.push(dir)
    const decisions = await Effect.runPromise(suspendRounds(dir))
    decisions.forEach((d, i) => writeFileSync(join(dir, `decisions-race-${i}.json`), encode(d)))
    // Both spawned at once (asynchronously); each round starts when both reached it (barrier files).
    const [a, b] = await Promise.all([spawn("race", dir, "a", "b", `${ROUNDS}`), spawn("race", dir, "b", "a", `${ROUNDS}`)])
    if (!a.ok || !b.ok) throw new Error(`${a.ok ? "" : a.stderr} ${b.ok ? "" : b.stderr}`)
    const [ra, rb] = [a.result as unknown as Array<{ result: string }>, b.result as unknown as Array<{ result: string }>]
    const log = ranLog(dir)
    for (let i = 0; i < ROUNDS; i++) {
      // The loser ran nothing: it found the run claimed (RunBusy) or, arriving later, completed (RunNotResumable).
      const [winner, loser] = [ra[i]!.result, rb[i]!.result].sort()
      expect(winner, `round ${i}`).toBe("Completed")
      expect(["RunBusy", "RunNotResumable"], `round ${i}`).toContain(loser)
      expect(log.filter((line) => line.endsWith(` refund:${i}:30`)), `round ${i}`).toHaveLength(1)
    }
    expect(log).toHaveLength(ROUNDS)
    // Each winner went on with billing, which handed back to triage: every run completed with triage speaking.
    for (let i = 0; i < ROUNDS; i++) {
      const stored = JSON.parse(readFileSync(join(dir, `race-${i}.json`), "utf8")) as Record<string, unknown>
      expect(stored, `round ${i}`).toMatchObject({ status: "completed", agent: "triage", handoffs: 2 })
    }
  }, 240_000)
})
