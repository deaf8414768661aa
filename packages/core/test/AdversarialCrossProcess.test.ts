/**
 * Adversarial, across OS processes: two `tsx` processes started together race to resume the same runs on
 * one file-system store (20 rounds, in lockstep through barrier files); a process killed with SIGKILL in
 * the middle of an approved call leaves a leased run that another process recovers once the lease expires.
 * Every execution is appended to one log file, so a duplicate in any process shows.
 */
import { AgentBackend, Approval, RunState, RunStore } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { Duration, Effect, Layer, Option, Schema } from "effect"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { makeWorld } from "./support/adversarial.js"
import { spawnScript } from "./support/spawn.js"

const ROUNDS = 20
const script = join(import.meta.dirname, "support", "race-process.ts")
const dirs: Array<string> = []
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "agentloop-xadv-"))
  dirs.push(dir)
  return dir
}

/** Starts a racer (see `support/spawn.ts`). */
const start = (...args: ReadonlyArray<string>) => spawnScript(script, args)

const storeLayer = (dir: string) => RunStore.layerFileSystem(dir).pipe(Layer.provide(NodeServices.layer))

/** Suspends `runIds` on the store in `dir` (in this process) and writes an approval for each. */
const suspendRuns = (dir: string, runIds: ReadonlyArray<string>) => {
  const world = makeWorld()
  const { layer } = world.backend(
    runIds.map((_, i) => ScriptedModel.toolCall("deploy", { version: `${i}` })),
    { store: storeLayer(dir) }
  )
  return Effect.runPromise(
    Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const pending: Record<string, RunState.Suspended["pending"][number]> = {}
      for (const runId of runIds) {
        const outcome = yield* backend.run({ input: "ship", runId })
        if (outcome._tag !== "Suspended") throw new Error(`expected Suspended, got ${outcome._tag}`)
        const decisions = [Approval.approve(outcome.pending[0]!, { by: "alice" })]
        writeFileSync(join(dir, `decisions-${runId}.json`), JSON.stringify(Schema.encodeSync(Schema.Array(Approval.ApprovalDecision))(decisions)))
        pending[runId] = outcome.pending[0]!
      }
      return pending
    }).pipe(Effect.provide(layer))
  )
}

const logLines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l.length > 0) : [])

describe("resumes racing across OS processes (file store)", () => {
  it(`${ROUNDS} rounds of two processes resuming one run together: exactly one wins each round, each approved call runs once`, async () => {
    const dir = tempDir()
    const log = join(dir, "executions.log")
    const runIds = Array.from({ length: ROUNDS }, (_, i) => `race-${i}`)
    await suspendRuns(dir, runIds)

    const a = start("race", dir, "a", "b", `${ROUNDS}`, log)
    const b = start("race", dir, "b", "a", `${ROUNDS}`, log)
    const [ra, rb] = await Promise.all([a.exited, b.exited])
    expect([ra.code, ra.stderr, rb.code, rb.stderr]).toEqual([0, "", 0, ""])
    const resultsA = JSON.parse(ra.stdout) as Array<{ runId: string; result: string }>
    const resultsB = JSON.parse(rb.stdout) as Array<{ runId: string; result: string }>
    for (let i = 0; i < ROUNDS; i++) {
      // The loser ran nothing: it found the run claimed (RunBusy) or, arriving later, already completed.
      const [winner, loser] = [resultsA[i]!.result, resultsB[i]!.result].sort()
      expect(winner).toBe("Completed")
      expect(["RunBusy", "RunNotResumable"]).toContain(loser)
    }
    // One execution per run, whichever process won it.
    const lines = logLines(log)
    expect(lines).toHaveLength(ROUNDS)
    for (const runId of runIds) expect(lines.filter((l) => l.startsWith(`deploy ${runId}:`))).toHaveLength(1)
    const states = await Effect.runPromise(
      Effect.flatMap(RunStore.RunStore, (store) => Effect.forEach(runIds, (runId) => store.load(runId))).pipe(Effect.provide(storeLayer(dir)))
    )
    expect(states.map((s) => Option.getOrThrow(s).status)).toEqual(runIds.map(() => "completed"))
  }, 180_000)

  it("a process killed (SIGKILL) inside the approved call: busy while its lease is live, then recovered; the call reruns with the same key", async () => {
    const dir = tempDir()
    const log = join(dir, "executions.log")
    const pending = await suspendRuns(dir, ["killed"])
    const leaseMs = 8000
    const hung = start("hang", dir, "killed", log, `${leaseMs}`)
    // Wait until the child is inside the handler (its execution is logged), then kill it.
    while (logLines(log).length === 0) {
      const exited = await Promise.race([hung.exited, new Promise((resolve) => setTimeout(() => resolve(undefined), 20))])
      if (exited !== undefined) throw new Error(`the child exited early: ${JSON.stringify(exited)}`)
    }
    hung.child.kill("SIGKILL")
    expect((await hung.exited).signal).toBe("SIGKILL")

    const world = makeWorld({ logFile: log, label: "recovery" })
    const { layer } = world.backend([ScriptedModel.text("deployed")], { store: storeLayer(dir) })
    const outcome = await Effect.runPromise(
      Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const state = Option.getOrThrow(yield* backend.getRun("killed"))
        expect(state.status).toBe("running")
        expect(state.lease?.owner).toContain(`:${hung.child.pid}:`)
        // The owner is dead but its lease is live: nobody may take the run yet.
        expect(yield* Effect.flip(backend.resume("killed", []))).toMatchObject({ _tag: "RunBusy" })
        expect(world.executions).toEqual([])
        yield* Effect.sleep(Duration.millis(Math.max(0, state.lease!.expiresAt - Date.now()) + 50))
        return yield* backend.resume("killed", [])
      }).pipe(Effect.provide(layer))
    )
    expect(outcome).toMatchObject({ _tag: "Completed", text: "deployed" })
    const key = `killed:${pending["killed"]!.toolCallId}`
    const lines = logLines(log)
    expect(lines).toEqual([`deploy ${key} pid-${hung.child.pid}`, `deploy ${key} recovery`])
    // The stored decision was applied again: approved by the same person, without a new decision.
    expect(world.executions.map((e) => e.approvedBy)).toEqual(["alice"])
  }, 180_000)
})
