/**
 * Cross-process scenarios of a parent whose sub-agent asks for the approval (AGENT=nested, see fixtures.ts
 * `nestedLayer`), for every engine: each process is a real `process.ts`; the log shows which process asked
 * the model (`model parent:<turn>` / `model sub:<turn>`) and ran a tool (`tool <key> <tool>`).
 */
import { Approval } from "@agentloop/core"
import { join } from "node:path"
import { expect, it } from "vitest"
import { decodePending, dir, encodeDecision, type Engine, expectOneWinner, linesOf, type Outcome, TIMEOUT, unique } from "./scenarios.js"
import { run, wasKilled } from "./spawn.js"

export const nestedScenarios = (engine: Engine, target: (name: string) => string, env: Record<string, string> = {}) => {
  const id = (runId: string) => `${runId}-${engine}-${unique}`
  const proc = (name: string, runId: string, log: string, mode: string, extra: ReadonlyArray<string> = []) =>
    run([engine, target(name), id(runId), log, mode, ...extra], { env: { ...env, AGENT: "nested" } })
  const startSuspended = async (name: string, runId: string, log: string) => {
    const first = await proc(name, runId, log, "start")
    expect(first.status, first.output).toBe(0)
    expect(first.result).toMatchObject({
      _tag: "Suspended",
      pending: [{ runId: id(runId), toolCallId: "call-release/call-deploy", via: "call-release", toolName: "deploy", arguments: { version: "7.2" } }]
    })
    return decodePending(first.result.pending[0])
  }

  it("nested: suspended on the sub-agent's approval, the process exits; a fresh process decides on the parent and both finish, nothing finished runs again", async () => {
    const log = join(dir, `${engine}-nested-a.log`)
    const pending = await startSuspended("nested-a", "nested-a", log)
    const second = await proc("nested-a", "nested-a", log, "decide", [encodeDecision(Approval.approve(pending, { by: "fresh-process" }))])
    expect(second.status, second.output).toBe(0)
    expect(second.result).toMatchObject({ _tag: "Completed", outcome: { _tag: "Completed", text: "Done: Released: deployed 7.2" } })
    const lines = linesOf(log)
    const pidA = lines[0]![0]
    expect(lines.map(([pid, what, arg, tool]) => [pid === pidA ? "A" : "B", what, arg, ...(tool === undefined ? [] : [tool])])).toEqual([
      ["A", "model", "parent:1"],
      ["A", "model", "sub:1"],
      ["A", "tool", `${id("nested-a")}.call-release:call-check`, "check"],
      ["A", "model", "sub:2"],
      ["B", "tool", `${id("nested-a")}.call-release:call-deploy`, "deploy"],
      ["B", "model", "sub:3"],
      ["B", "model", "parent:2"]
    ])
  }, TIMEOUT)

  it("nested: SIGKILLed inside the sub-agent's gated tool; a fresh process recovers: the sub-agent's finished steps do not run again", async () => {
    const log = join(dir, `${engine}-nested-b.log`)
    const pending = await startSuspended("nested-b", "nested-b", log)
    const crashed = await proc("nested-b", "nested-b", log, "crash", [encodeDecision(Approval.approve(pending))])
    expect(wasKilled(crashed), `${crashed.status} ${crashed.signal} ${crashed.output}`).toBe(true)
    const recovered = await proc("nested-b", "nested-b", log, "recover")
    expect(recovered.status, recovered.output).toBe(0)
    expect(recovered.result).toMatchObject({ _tag: "Completed", outcome: { text: "Done: Released: deployed 7.2" } })
    const lines = linesOf(log)
    const tools = lines.filter(([, what]) => what === "tool")
    // check ran once (before the crash); deploy at least once per attempt, with the same key each time.
    expect(tools.filter(([, , , tool]) => tool === "check")).toHaveLength(1)
    const deploys = tools.filter(([, , , tool]) => tool === "deploy")
    expect(deploys).toHaveLength(2)
    expect(new Set(deploys.map(([, , key]) => key))).toEqual(new Set([`${id("nested-b")}.call-release:call-deploy`]))
    expect(deploys[0]![0]).not.toBe(deploys[1]![0])
    for (const turn of ["parent:1", "sub:1", "sub:2", "sub:3", "parent:2"]) expect(lines.filter(([, what, t]) => what === "model" && t === turn), turn).toHaveLength(1)
  }, TIMEOUT)

  it("nested: 20 rounds of approve (alice) vs deny (bob) on the sub-agent's approval at the same moment: exactly one wins, deploy runs once per approval won", async () => {
    const log = join(dir, `${engine}-nested-e.log`)
    const raced = await proc("nested-e", "nested-e", log, "race", ["20"])
    expect(raced.status, raced.output).toBe(0)
    const rounds = raced.result as Array<{ runId: string; approve: Outcome; deny: Outcome; pendingAfter: Array<string> }>
    expect(rounds).toHaveLength(20)
    const lines = linesOf(log)
    for (const round of rounds) {
      const approved = expectOneWinner(round.approve, round.deny)
      expect(round.pendingAfter).toEqual([])
      expect(round).toMatchObject({ final: { _tag: "Completed", outcome: { text: approved ? "Done: Released: deployed 7.2" : "Done: Released: Error: request to call tool denied. User reason: no" } } })
      expect(lines.filter(([, what, key]) => what === "tool" && key === `${round.runId}.call-release:call-deploy`)).toHaveLength(approved ? 1 : 0)
      expect(lines.filter(([, what, key]) => what === "tool" && key === `${round.runId}.call-release:call-check`)).toHaveLength(1)
    }
  }, TIMEOUT)
}
