/**
 * Acceptance: durable runs across processes on a Postgres cluster of socket runners (the shared scenarios,
 * see scenarios.ts), plus what only a cluster has: decisions raced from two `clientOnly` processes started
 * together (also on a sub-agent's approval, and on a handoff target's), failover of a killed runner's runs to the other runner, and a
 * paused runner that keeps its runs. Skipped, and saying so, without a
 * Postgres server (see postgres.ts); the cluster has a database of its own.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { handoffScenarios } from "./handoffScenarios.js"
import { clusterDatabase, pgReachable } from "./postgres.js"
import { dir, expectOneWinner, linesOf, type Outcome, scenarios, TIMEOUT, unique } from "./scenarios.js"
import { type Exited, freePort, run, start, stopAll, waitFor, wasKilled } from "./spawn.js"

const clusterUrl = await clusterDatabase()
/** One port for the scenarios' runners: a runner that replaces a killed one at its address takes over its row at once. */
const [scenarioPort, racePort, nestedRacePort, handoffRacePort] = [await freePort(), await freePort(), await freePort(), await freePort()]
const [failoverPorts, pausePorts] = [[await freePort(), await freePort()], [await freePort(), await freePort()]]

describe.skipIf(!pgReachable)("durable runs across processes: a Postgres cluster of socket runners", () => {
  scenarios("cluster", () => clusterUrl, { PORT: String(scenarioPort) })
  handoffScenarios("cluster", () => clusterUrl, { PORT: String(scenarioPort) })

  /**
   * `agent`: AGENT of every process ("" the deployer; "nested" the parent whose sub-agent asks; "handoff"
   * triage, which hands off to billing, whose refund asks; see fixtures.ts). `ungated`: the tool each run
   * calls before its approval (once per run: a decision never runs it again).
   */
  const race = (agent: "" | "nested" | "handoff", port: number, done: { readonly approved: string; readonly denied: string }, ungated = "check") => async () => {
    const runId = `race-cluster${agent}-${unique}`
    const log = join(dir, `cluster-race${agent}.log`)
    const env = { AGENT: agent }
    const runner = start(["cluster", clusterUrl, runId, log, "hold"], { env: { ...env, PORT: String(port) } })
    try {
      await runner.ready
      const made = await run(["cluster-client", clusterUrl, runId, log, "suspend-many", "20"], { env })
      expect(made.status, made.output).toBe(0)
      if (agent === "nested") expect(made.result).toEqual(Array.from({ length: 20 }, () => expect.objectContaining({ toolCallId: "call-release/call-deploy", via: "call-release" })))
      if (agent === "handoff") expect(made.result).toEqual(Array.from({ length: 20 }, () => expect.objectContaining({ toolCallId: "call-refund", toolName: "refund", agent: "durable-billing" })))
      const file = join(dir, `cluster-race${agent}-pending.json`)
      writeFileSync(file, JSON.stringify(made.result))
      const [alice, bob] = await Promise.all([
        run(["cluster-client", clusterUrl, runId, log, "decide-many", "alice", "approve", file], { env }),
        run(["cluster-client", clusterUrl, runId, log, "decide-many", "bob", "deny", file], { env })
      ])
      expect(alice.status, alice.output).toBe(0)
      expect(bob.status, bob.output).toBe(0)
      const approved = (alice.result as Array<Outcome>).map((approve, i) => expectOneWinner(approve, (bob.result as Array<Outcome>)[i]!))
      const settled = await run(["cluster-client", clusterUrl, runId, log, "settle-many", "20"], { env })
      expect(settled.status, settled.output).toBe(0)
      ;(settled.result as Array<{ outcome: { text: string } }>).forEach((status, i) =>
        expect(status).toMatchObject({ _tag: "Completed", outcome: { text: approved[i] ? done.approved : done.denied } })
      )
      const tools = linesOf(log).filter(([, what]) => what === "tool")
      expect(tools.filter(([, , , what]) => what !== ungated)).toHaveLength(approved.filter(Boolean).length)
      if (agent === "handoff") expect(tools.filter(([, , , what]) => what === ungated)).toHaveLength(20)
    } finally {
      runner.kill("SIGTERM")
      await runner.exited
    }
  }

  it(
    "20 runs, each approved (alice) and denied (bob) by two clientOnly processes started together: exactly one wins each",
    race("", racePort, { approved: "Done: deployed 7.2", denied: "Done: Error: request to call tool denied. User reason: no" }),
    TIMEOUT
  )

  it(
    "nested: 20 runs suspended on their sub-agent's approval, each approved (alice) and denied (bob) by two clientOnly processes started together: exactly one wins each",
    race("nested", nestedRacePort, { approved: "Done: Released: deployed 7.2", denied: "Done: Released: Error: request to call tool denied. User reason: no" }),
    TIMEOUT
  )

  it(
    "handoff: 20 runs suspended on billing's approval after triage handed off, each approved (alice) and denied (bob) by two clientOnly processes started together: exactly one wins each, billing goes on",
    race("handoff", handoffRacePort, { approved: "Billing: refunded $30 on 42", denied: "Billing: Error: request to call tool denied. User reason: no" }, "lookup_order"),
    TIMEOUT
  )

  /** Two runners (default `failoverAfter` unless given), the drive client, and the run's tool lines. */
  const twoRunners = async (name: string, ports: ReadonlyArray<number>, env: Record<string, string>, during: (log: string, runId: string) => Promise<void>) => {
    const runId = `${name}-${unique}`
    const log = join(dir, `cluster-${name}.log`)
    const runners = ports.map((port) => start(["cluster", clusterUrl, runId, log, "hold"], { env: { ...env, PORT: String(port) } }))
    const exits: Array<Exited | undefined> = runners.map(() => undefined)
    runners.forEach((r, i) => void r.exited.then((e) => (exits[i] = e)))
    try {
      await Promise.all(runners.map((r) => r.ready))
      const driven = run(["cluster-client", clusterUrl, runId, log, "drive"], { env: env["FAILOVER"] === undefined ? {} : { FAILOVER: env["FAILOVER"] } })
      await during(log, runId)
      const done = await driven
      expect(done.status, done.output).toBe(0)
      expect(done.result).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
      // As they were when the run completed (the runners are stopped below).
      return { runId, tools: linesOf(log).filter(([, what]) => what === "tool"), exits: [...exits] }
    } finally {
      await stopAll(runners, "SIGTERM")
    }
  }

  it("failover: the runner running a tool call is killed; the other runner takes its shards and completes the run", async () => {
    const { runId, tools, exits } = await twoRunners("failover", failoverPorts, { FIRST_ATTEMPT_DIES: "1" }, async () => {})
    // The first attempt killed its runner; the other runner ran the call again, with the same key.
    expect(tools).toHaveLength(2)
    expect(tools[0]![0]).not.toBe(tools[1]![0])
    expect(new Set(tools.map(([, , key]) => key))).toEqual(new Set([`${runId}:call-deploy`]))
    expect(exits.filter((e) => e !== undefined && wasKilled(e))).toHaveLength(1)
  }, TIMEOUT)

  // The default failoverAfter (9 s): a 5 s pause is near two thirds of it, the line it must hold.
  it("a runner paused (SIGSTOP) for 5 s, less than two thirds of the default failoverAfter (9 s), keeps its run: the tool call it was running ran once", async () => {
    const { tools, exits } = await twoRunners("paused", pausePorts, { FIRST_ATTEMPT_SLOW: "2000" }, async (log) => {
      const first = await waitFor(() => linesOf(log).find(([, what]) => what === "tool"))
      if (first === undefined) throw new Error("the tool never ran")
      const pid = Number(first[0])
      process.kill(pid, "SIGSTOP")
      await new Promise((resolve) => setTimeout(resolve, 5_000))
      process.kill(pid, "SIGCONT")
    })
    // Nobody took the run over: the one attempt finished where it started, and both runners are alive.
    expect(tools).toHaveLength(1)
    expect(exits.map((e) => e && `${e.status} ${e.signal} ${e.output}`)).toEqual([undefined, undefined])
  }, TIMEOUT)
})
