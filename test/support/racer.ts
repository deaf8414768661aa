/**
 * What the cross-process child scripts of the tests share (handoff-process.ts, sub-agent-process.ts, and
 * packages/core/test/support/race-process.ts):
 * the run log every tool appends to as it runs, the decisions file format, and the race loop that resumes
 * the same runs as another process started together.
 */
import { type AgentBackend, Approval } from "@agentloop/core"
import { Duration, Effect, Result, Schema } from "effect"
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

/**
 * An array the backends' handlers push what they run to: each item is appended to `<dir>/ran.log` at that
 * moment (`<pid> <item>`), so a duplicate run across processes shows; `onRun` sees it right after.
 */
export const ranLog = (dir: string, onRun: (item: string) => void = () => {}): Array<string> =>
  new (class extends Array<string> {
    override push(...items: Array<string>): number {
      for (const item of items) {
        appendFileSync(join(dir, "ran.log"), `${process.pid} ${item}\n`)
        onRun(item)
      }
      return super.push(...items)
    }
  })()

export const decisionsOf = (json: string) => Schema.decodeUnknownSync(Schema.fromJsonString(Schema.Array(Approval.ApprovalDecision)))(json)

/** Both racers reach round `round` before either resumes. */
const barrier = (dir: string, round: number, label: string, other: string) =>
  Effect.gen(function* () {
    writeFileSync(join(dir, `ready-${round}-${label}`), "")
    while (!existsSync(join(dir, `ready-${round}-${other}`))) yield* Effect.sleep(Duration.millis(1))
  })

/**
 * For each round i: waits for the other racer (barrier files), then resumes `race-<i>` with
 * `<dir>/decisions-race-<i>.json`; each round's outcome tag, or its error's.
 */
export const raceResumes = (backend: AgentBackend.Service, dir: string, label: string, other: string, rounds: number) =>
  Effect.gen(function* () {
    const results: Array<{ runId: string; result: string }> = []
    for (let round = 0; round < rounds; round++) {
      const runId = `race-${round}`
      const decisions = decisionsOf(readFileSync(join(dir, `decisions-${runId}.json`), "utf8"))
      yield* barrier(dir, round, label, other)
      const outcome = yield* Effect.result(backend.resume(runId, decisions))
      results.push({ runId, result: Result.isSuccess(outcome) ? outcome.success._tag : outcome.failure._tag })
    }
    return results
  })
