/**
 * Sub-agent approvals under the workflow engine: the parent's workflow suspends with its sub-agent's pending
 * approval, one `Durable.decide` on the parent continues both, and nothing finished runs again (in memory and
 * on a SQLite file reopened by a fresh runtime; across processes in NestedProcess.test.ts).
 */
import { Approval } from "@agentloop/core"
import { Durable } from "@agentloop/workflow"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Result } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { nestedLayer, type NestedOptions, outerAgent, researchAgent as parent, twoLevelLayer } from "./fixtures.js"

const setup = (options: NestedOptions = {}) => {
  const calls: Array<string> = []
  const runs: Array<string> = []
  const agentLayer = nestedLayer((call) => void calls.push(call), (tool, key) => Effect.sync(() => void runs.push(`${tool} ${key}`)), options)
  return { calls, runs, agentLayer, layer: agentLayer.pipe(Layer.provideMerge(Durable.layerMemory)) }
}

const suspended = (runId: string) =>
  Effect.flatMap(Durable.awaitSettled(parent, runId), (status) =>
    status._tag === "Suspended" ? Effect.succeed(status.pending) : Effect.die(new Error(`expected Suspended, got ${JSON.stringify(status)}`))
  )

const dirs: Array<string> = []
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

describe("sub-agent approvals under Durable (in memory)", () => {
  it.live("the sub-agent's approval suspends the parent's workflow; one decide on the parent continues both", () => {
    const { layer, calls, runs } = setup()
    return Effect.gen(function* () {
      yield* Durable.start(parent, { runId: "nest-1", input: "release 7.2" })
      const pending = yield* suspended("nest-1")
      expect(pending).toMatchObject([{ runId: "nest-1", toolCallId: "call-release/call-deploy", via: "call-release", toolName: "deploy", arguments: { version: "7.2" }, step: 1 }])
      expect(runs).toEqual(["check nest-1.call-release:call-check"])
      expect(calls).toEqual(["parent 1", "sub 1", "sub 2"])

      yield* Durable.decide(parent, "nest-1", Approval.approve(pending[0]!, { by: "alice" }))
      const done = yield* Durable.awaitSettled(parent, "nest-1")
      expect(done).toMatchObject({ _tag: "Completed", outcome: { _tag: "Completed", text: "Done: Released: deployed 7.2" } })
      // The replay re-entered the sub-agent: its finished model steps and `check` came back from the engine.
      expect(runs).toEqual(["check nest-1.call-release:call-check", "deploy nest-1.call-release:call-deploy"])
      expect(calls).toEqual(["parent 1", "sub 1", "sub 2", "sub 3", "parent 2"])
      // A second decision on the same approval is rejected, naming the winner.
      const again = yield* Effect.flip(Durable.decide(parent, "nest-1", Approval.deny(pending[0]!, "late", { by: "bob" })))
      expect(again).toMatchObject({ _tag: "DecisionRejected", winner: { approved: true, decidedBy: "alice" } })
    }).pipe(Effect.provide(layer))
  })

  it.live("a denial reaches the sub-agent's model as the tool result; the gated tool never runs", () => {
    const { layer, runs } = setup()
    return Effect.gen(function* () {
      yield* Durable.start(parent, { runId: "nest-2", input: "release 7.2" })
      const pending = yield* suspended("nest-2")
      yield* Durable.decide(parent, "nest-2", Approval.deny(pending[0]!, "change freeze", { by: "ops" }))
      const done = yield* Durable.awaitSettled(parent, "nest-2")
      expect(done).toMatchObject({ outcome: { text: "Done: Released: Error: request to call tool denied. User reason: change freeze" } })
      expect(runs).toEqual(["check nest-2.call-release:call-check"])
    }).pipe(Effect.provide(layer))
  })

  it.live("20 rounds, approve (alice) and deny (bob) at the same moment: exactly one wins, deploy runs once per approval won", () => {
    const { layer, runs } = setup()
    return Effect.gen(function* () {
      const ids = Array.from({ length: 20 }, (_, i) => `nest-race-${i}`)
      yield* Effect.forEach(ids, (id) => Durable.start(parent, { runId: id, input: "release 7.2" }), { discard: true })
      const rounds = yield* Effect.forEach(
        ids,
        (id) =>
          Effect.gen(function* () {
            const pending = (yield* suspended(id))[0]!
            const [approve, deny] = yield* Effect.all(
              [Effect.result(Durable.decide(parent, id, Approval.approve(pending, { by: "alice" }))), Effect.result(Durable.decide(parent, id, Approval.deny(pending, "no", { by: "bob" })))],
              { concurrency: 2 }
            )
            expect([approve, deny].filter(Result.isSuccess)).toHaveLength(1)
            const loser = Result.isFailure(approve) ? approve.failure : Result.isFailure(deny) ? deny.failure : undefined
            expect(loser).toMatchObject({ _tag: "DecisionRejected", winner: { approved: Result.isSuccess(approve) } })
            const done = yield* Durable.awaitSettled(parent, id)
            expect(done).toMatchObject({ _tag: "Completed", outcome: { text: Result.isSuccess(approve) ? "Done: Released: deployed 7.2" : "Done: Released: Error: request to call tool denied. User reason: no" } })
            return Result.isSuccess(approve)
          }),
        { concurrency: 5 }
      )
      for (const [i, approved] of rounds.entries()) {
        expect(runs.filter((line) => line === `deploy nest-race-${i}.call-release:call-deploy`)).toHaveLength(approved ? 1 : 0)
        expect(runs.filter((line) => line === `check nest-race-${i}.call-release:call-check`)).toHaveLength(1)
      }
    }).pipe(Effect.provide(layer))
  })

  it.live("a provider that sends call_0 on every step: each sub-agent call is its own sub-run (own run id, so its tools get their own keys); the second's approval suspends the parent anew", () => {
    const { layer, calls, runs } = setup({ repeating: true })
    return Effect.gen(function* () {
      yield* Durable.start(parent, { runId: "nest-rep", input: "release 7.2 twice" })
      const first = yield* suspended("nest-rep")
      expect(first).toMatchObject([{ toolCallId: "call_0/call_0", via: "call_0", toolName: "deploy", step: 1 }])
      yield* Durable.decide(parent, "nest-rep", Approval.approve(first[0]!, { by: "alice" }))
      const second = yield* suspended("nest-rep")
      expect(second).toMatchObject([{ toolCallId: "call_0/call_0", via: "call_0", toolName: "deploy", step: 2 }])
      expect(second[0]!.approvalId).not.toBe(first[0]!.approvalId)
      yield* Durable.decide(parent, "nest-rep", Approval.approve(second[0]!, { by: "bob" }))
      const done = yield* Durable.awaitSettled(parent, "nest-rep")
      expect(done).toMatchObject({ _tag: "Completed", outcome: { _tag: "Completed", text: "Done: Released: deployed 7.2", steps: 3 } })
      // Sub-runs `nest-rep.call_0` (step 1: the plain form) and `nest-rep.2.call_0`; inside each, call_0 repeats too.
      expect(runs).toEqual([
        "check nest-rep.call_0:call_0",
        "deploy nest-rep.call_0:2:call_0",
        "check nest-rep.2.call_0:call_0",
        "deploy nest-rep.2.call_0:2:call_0"
      ])
      expect(calls).toEqual(["parent 1", "sub 1", "sub 2", "sub 3", "parent 2", "sub 1", "sub 2", "sub 3", "parent 3"])
    }).pipe(Effect.provide(layer))
  })

  it.live("two levels: the approval of a sub-agent's sub-agent suspends the outermost run; one decide continues all three", () => {
    const calls: Array<string> = []
    const runs: Array<string> = []
    const layer = twoLevelLayer((call) => void calls.push(call), (tool, key) => Effect.sync(() => void runs.push(`${tool} ${key}`))).pipe(
      Layer.provideMerge(Durable.layerMemory)
    )
    return Effect.gen(function* () {
      yield* Durable.start(outerAgent, { runId: "nest-deep", input: "research and release 7.2" })
      const waiting = yield* Durable.awaitSettled(outerAgent, "nest-deep")
      if (waiting._tag !== "Suspended") throw new Error(`expected Suspended, got ${JSON.stringify(waiting)}`)
      expect(waiting.pending).toMatchObject([{ runId: "nest-deep", toolCallId: "call-research/call-release/call-deploy", via: "call-research", toolName: "deploy", step: 1 }])
      yield* Durable.decide(outerAgent, "nest-deep", Approval.approve(waiting.pending[0]!, { by: "alice" }))
      const done = yield* Durable.awaitSettled(outerAgent, "nest-deep")
      expect(done).toMatchObject({ _tag: "Completed", outcome: { text: "Outer: Done: Released: deployed 7.2" } })
      expect(runs).toEqual(["check nest-deep.call-research.call-release:call-check", "deploy nest-deep.call-research.call-release:call-deploy"])
      expect(calls).toEqual(["outer 1", "parent 1", "sub 1", "sub 2", "sub 3", "parent 2", "outer 2"])
    }).pipe(Effect.provide(layer))
  })

  it.live("SQLite: a fresh runtime on the same file after the suspension takes the decision; nothing finished runs again", () => {
    const dir = mkdtempSync(join(tmpdir(), "agentloop-nested-"))
    dirs.push(dir)
    const { agentLayer, calls, runs } = setup()
    const onFile = () => agentLayer.pipe(Layer.provideMerge(Durable.layerSqlite({ filename: join(dir, "nested.db"), pollInterval: "100 millis" })))
    return Effect.gen(function* () {
      const pending = yield* Effect.scoped(
        Effect.provide(Effect.andThen(Durable.start(parent, { runId: "nest-sql", input: "release 7.2" }), suspended("nest-sql")), onFile())
      )
      expect(pending).toMatchObject([{ toolCallId: "call-release/call-deploy", via: "call-release" }])
      // The first runtime is closed (its file lock released); a new one opens the same file.
      const done = yield* Effect.scoped(
        Effect.provide(
          Effect.andThen(Durable.decide(parent, "nest-sql", Approval.approve(pending[0]!, { by: "alice" })), Durable.awaitSettled(parent, "nest-sql")),
          onFile()
        )
      )
      expect(done).toMatchObject({ _tag: "Completed", outcome: { text: "Done: Released: deployed 7.2" } })
      expect(runs).toEqual(["check nest-sql.call-release:call-check", "deploy nest-sql.call-release:call-deploy"])
      expect(calls).toEqual(["parent 1", "sub 1", "sub 2", "sub 3", "parent 2"])
    })
  })

  it.live("SQLite, call_0 on every step: suspended on the second sub-run's approval, a fresh runtime decides; each sub-run keeps its own keys", () => {
    const dir = mkdtempSync(join(tmpdir(), "agentloop-nested-"))
    dirs.push(dir)
    const { agentLayer, runs } = setup({ repeating: true })
    const onFile = () => agentLayer.pipe(Layer.provideMerge(Durable.layerSqlite({ filename: join(dir, "nested.db"), pollInterval: "100 millis" })))
    return Effect.gen(function* () {
      const second = yield* Effect.scoped(
        Effect.provide(
          Effect.gen(function* () {
            yield* Durable.start(parent, { runId: "nest-sql-rep", input: "release 7.2 twice" })
            const first = yield* suspended("nest-sql-rep")
            yield* Durable.decide(parent, "nest-sql-rep", Approval.approve(first[0]!, { by: "alice" }))
            return yield* suspended("nest-sql-rep")
          }),
          onFile()
        )
      )
      expect(second).toMatchObject([{ toolCallId: "call_0/call_0", via: "call_0", step: 2 }])
      const done = yield* Effect.scoped(
        Effect.provide(
          Effect.andThen(Durable.decide(parent, "nest-sql-rep", Approval.approve(second[0]!, { by: "bob" })), Durable.awaitSettled(parent, "nest-sql-rep")),
          onFile()
        )
      )
      expect(done).toMatchObject({ _tag: "Completed", outcome: { text: "Done: Released: deployed 7.2", steps: 3 } })
      expect(runs).toEqual([
        "check nest-sql-rep.call_0:call_0",
        "deploy nest-sql-rep.call_0:2:call_0",
        "check nest-sql-rep.2.call_0:call_0",
        "deploy nest-sql-rep.2.call_0:2:call_0"
      ])
    })
  })
})
