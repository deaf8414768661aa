/**
 * Acceptance: a parent run suspended on its sub-agent's approval in one process is resumed by another
 * process with one decision; both runs continue from the file store. Processes are spawned asynchronously
 * (node with tsx's loader: the child's pid is the process itself, so SIGKILL reaches it). Races: two processes
 * started together resume the same runs for 20 rounds (in lockstep through barrier files), and 20 rounds of
 * two resumes inside one runtime, on the memory and the file store: exactly one wins each round, and the
 * gated tool runs once per round (ran.log is appended as each tool runs). A process SIGKILLed inside the
 * sub-agent's gated tool leaves both runs leased; another process recovers them once the lease expires.
 */
import { AgentBackend, Approval, RunState, RunStore } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, Result, Schema } from "effect"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { backend } from "../examples/research-agent.js"

const ROUNDS = 20
const script = join(import.meta.dirname, "support", "sub-agent-process.ts")
const dirs: Array<string> = []
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))
const tempDir = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), `agentloop-subagent-${name}-`))
  dirs.push(dir)
  return dir
}

interface Exited {
  readonly ok: boolean
  readonly signal: NodeJS.Signals | null
  readonly result: any
  readonly stderr: string
}

/** Starts one process of support/sub-agent-process.ts; resolves when it exits (killed after 120 s). */
const spawnChild = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<Exited>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      let result: unknown
      try {
        result = JSON.parse(stdout)
      } catch {
        result = undefined
      }
      resolve({ ok: code === 0, signal, result, stderr })
    })
  })

const ranLog = (dir: string) => (existsSync(join(dir, "ran.log")) ? readFileSync(join(dir, "ran.log"), "utf8").trim().split("\n").filter((l) => l.length > 0) : [])
const encode = (decisions: ReadonlyArray<Approval.ApprovalDecision>) => JSON.stringify(Schema.encodeSync(Schema.Array(Approval.ApprovalDecision))(decisions))
const fileStore = (dir: string) => RunStore.layerFileSystem(dir).pipe(Layer.provide(NodeServices.layer))

const suspendInProcessA = async (dir: string, runId: string) => {
  const first = await spawnChild(["start", dir, runId])
  if (!first.ok) throw new Error(first.stderr)
  const suspended = Schema.decodeUnknownSync(RunState.Suspended)(first.result.outcome)
  expect(ranLog(dir)).toEqual([])
  expect(suspended.pending).toHaveLength(1)
  expect(suspended.pending[0]).toMatchObject({ toolName: "deploy", via: "call_release", toolCallId: "call_release/call_deploy" })
  // The parent's state and the sub-agent's are both in the store.
  expect(readdirSync(dir).filter((f) => f.endsWith(".json")).sort()).toEqual([`${runId}.call_release.json`, `${runId}.json`])
  return encode([Approval.approve(suspended.pending[0]!, { by: "process-b" })])
}

/** Suspends runs `race-<i>` (here, in-process) on `store`, each on its sub-agent's deploy of 4.<i>; returns each run's approval. */
const suspendRounds = (store: Layer.Layer<RunStore.RunStore>) => {
  const model = S.make(
    Array.from({ length: ROUNDS }, (_, i) => [
      S.toolCall("release", { input: `Deploy 4.${i}` }, { id: "call_release" }),
      S.toolCall("deploy", { version: `4.${i}` }, { id: "call_deploy" })
    ]).flat()
  )
  return Effect.gen(function* () {
    const b = yield* AgentBackend.AgentBackend
    return yield* Effect.forEach(Array.from({ length: ROUNDS }, (_, i) => `race-${i}`), (runId) =>
      Effect.map(b.run({ input: "Ship", runId }), (outcome) => {
        if (outcome._tag !== "Suspended") throw new Error(`expected Suspended, got ${outcome._tag}`)
        return [Approval.approve(outcome.pending[0]!, { by: "alice" })]
      })
    )
  }).pipe(Effect.provide(backend({ ran: [], model: model.layer, store })))
}

/** After each round's sub-agent answered "Deployed 4.<i>.", the parent answers "4.<i> is live.". */
const answering = () =>
  S.make(
    Array.from({ length: ROUNDS }, () => [
      S.respond((request) => S.text(`Deployed ${/\d+\.\d+/.exec(JSON.stringify(request.messages.at(-1)))![0]}.`)),
      S.respond((request) => S.text(`${/\d+\.\d+/.exec(JSON.stringify(request.messages.at(-1)))![0]} is live.`))
    ]).flat()
  )

describe("sub-agent approval across processes (file store)", () => {
  it("process A suspends on the sub-agent's approval and exits; process B resumes the parent with the decision; both complete", async () => {
    const dir = tempDir("ab")
    const decisions = await suspendInProcessA(dir, "sub-1")
    const second = await spawnChild(["resume", dir, "sub-1", decisions])
    if (!second.ok) throw new Error(second.stderr)
    expect(second.result.outcome).toMatchObject({ _tag: "Completed", text: "4.2 is live." })
    expect(ranLog(dir).map((line) => line.split(" ")[1])).toEqual(["deploy:4.2"])
    const child = JSON.parse(readFileSync(join(dir, "sub-1.call_release.json"), "utf8"))
    expect(child).toMatchObject({ status: "completed", agent: "release", outcome: { _tag: "Completed", text: "Deployed 4.2." } })
  }, 120_000)

  it(`${ROUNDS} rounds of two processes started together resuming the parent with the same decision: exactly one wins each round, deploy runs once per round`, async () => {
    const dir = tempDir("race")
    const decisions = await Effect.runPromise(suspendRounds(fileStore(dir)))
    decisions.forEach((d, i) => writeFileSync(join(dir, `decisions-race-${i}.json`), encode(d)))
    const [a, b] = await Promise.all([spawnChild(["race", dir, "a", "b", `${ROUNDS}`]), spawnChild(["race", dir, "b", "a", `${ROUNDS}`])])
    expect([a.ok, a.stderr, b.ok, b.stderr]).toEqual([true, "", true, ""])
    const log = ranLog(dir)
    for (let i = 0; i < ROUNDS; i++) {
      // The loser ran nothing: it found the parent claimed (RunBusy) or, arriving later, completed (RunNotResumable).
      const [winner, loser] = [a.result[i].result, b.result[i].result].sort()
      expect(winner, `round ${i}`).toBe("Completed")
      expect(["RunBusy", "RunNotResumable"], `round ${i}`).toContain(loser)
      expect(log.filter((line) => line.endsWith(` deploy:4.${i}`)), `round ${i}`).toHaveLength(1)
    }
    expect(log).toHaveLength(ROUNDS)
  }, 180_000)

  it("the owner is SIGKILLed inside the sub-agent's gated tool: both runs stay leased; another process recovers them once the leases expire", async () => {
    const dir = tempDir("kill")
    const decisions = await suspendInProcessA(dir, "sub-kill")
    const env = { LEASE_MS: "8000" }
    const crashed = await spawnChild(["crash", dir, "sub-kill", decisions], env)
    expect(crashed.signal, crashed.stderr).toBe("SIGKILL")
    const [killedPid] = ranLog(dir)[0]!.split(" ")
    // Both runs are left running, leased to the dead process; the sub-agent's deploy was in flight.
    const parent = JSON.parse(readFileSync(join(dir, "sub-kill.json"), "utf8"))
    const child = JSON.parse(readFileSync(join(dir, "sub-kill.call_release.json"), "utf8"))
    expect([parent.status, child.status]).toEqual(["running", "running"])
    expect(parent.lease.owner).toContain(`:${killedPid}:`)
    // While the lease is live nobody may take the run (checked here, at once: a process takes seconds to start).
    const ran: Array<string> = []
    const early = await Effect.runPromise(
      Effect.flip(Effect.flatMap(AgentBackend.AgentBackend, (b) => b.resume("sub-kill", []))).pipe(
        Effect.provide(backend({ ran, model: answering().layerUnchecked, store: fileStore(dir) }))
      )
    )
    expect(early).toMatchObject({ _tag: "RunBusy", leaseExpiresAt: parent.lease.expiresAt })
    expect(ran).toEqual([])
    // The sub-agent's lease may outlive the parent's (it renews at its own model steps): make it so, by 1.5 s.
    const childFile = join(dir, "sub-kill.call_release.json")
    writeFileSync(childFile, JSON.stringify({ ...child, lease: { ...child.lease, expiresAt: parent.lease.expiresAt + 1500 } }))
    const recovered = await spawnChild(["recover", dir, "sub-kill"], env)
    if (!recovered.ok) throw new Error(recovered.stderr)
    expect(recovered.result.outcome).toMatchObject({ _tag: "Completed", text: "4.2 is live." })
    // The interrupted call ran again (at least once), nothing else did.
    expect(ranLog(dir).map((line) => line.split(" ")[1])).toEqual(["deploy:4.2", "deploy:4.2"])
    expect(JSON.parse(readFileSync(join(dir, "sub-kill.call_release.json"), "utf8"))).toMatchObject({ status: "completed" })
  }, 180_000)
})

describe("sub-agent approval: resumes racing in one runtime", () => {
  for (const [name, store] of [
    ["memory", () => RunStore.layerMemory],
    ["file", () => fileStore(tempDir("inproc"))]
  ] as const) {
    it(`${ROUNDS} rounds of two concurrent resumes of the parent with the same decision (${name} store): exactly one wins, deploy runs once per round`, async () => {
      const ran: Array<string> = []
      const model = answering()
      const results = await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            // One store for both resumers (and for the suspensions before them).
            const shared = Layer.succeedContext(yield* Layer.build(store()))
            const decisions = yield* suspendRounds(shared)
            const b = yield* Effect.provide(AgentBackend.AgentBackend, backend({ ran, model: model.layerUnchecked, store: shared }))
            return yield* Effect.forEach(decisions, (d, i) =>
              Effect.all([Effect.result(b.resume(`race-${i}`, d)), Effect.result(b.resume(`race-${i}`, d))], { concurrency: 2 })
            )
          })
        )
      )
      results.forEach((pair, i) => {
        const winners = pair.filter(Result.isSuccess)
        expect(winners, `round ${i}`).toHaveLength(1)
        expect(winners[0]!.success).toMatchObject({ _tag: "Completed", text: `4.${i} is live.` })
        const loser = pair.find(Result.isFailure)!.failure
        expect(["RunBusy", "RunNotResumable"], `round ${i}`).toContain(loser._tag)
      })
      expect(ran).toEqual(Array.from({ length: ROUNDS }, (_, i) => `deploy:4.${i}`))
    }, 60_000)
  }
})
