/**
 * Adversarial: stored state edited the way an attacker with write access to the store would. An approval of
 * `deploy({ version: "1" })` must never run `destroy({ version: "1" })` (the call digest binds the run, the
 * call, the tool, the arguments and the agent); a sealed state copied over another run's, or rolled back to
 * an older snapshot of itself, is `RunStateTampered`. Every test counts handler executions exactly.
 */
import { Agent, AgentBackend, Approval, Message, RunIntegrity, RunState, RunStore, Tool, Toolkit } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Schema } from "effect"
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Deploy } from "./fixtures.js"

const S = ScriptedModel

/** Gated like `deploy`, with the same parameters: the tool an edit would swap in. */
const Destroy = Tool.make("destroy", {
  description: "Destroy a release (needs approval).",
  parameters: { version: Schema.String },
  success: Schema.String,
  requiresApproval: true
})
const toolkit = Toolkit.make(Deploy, Destroy)
const agent = Agent.make({ name: "integrity", toolkit })

const makeWorld = () => {
  const executions: Array<string> = []
  const handlers = toolkit.toLayer({
    deploy: ({ version }) => Effect.sync(() => (executions.push(`deploy ${version}`), `deployed ${version}`)),
    destroy: ({ version }) => Effect.sync(() => (executions.push(`destroy ${version}`), `destroyed ${version}`))
  })
  const backend = (store: Layer.Layer<RunStore.RunStore>, turns: ReadonlyArray<ScriptedModel.Turn>) =>
    AgentBackend.layerLocal(agent).pipe(
      Layer.provide(Layer.mergeAll(S.make(turns).layerUnchecked, handlers, Approval.layerSuspend(), store))
    )
  return { executions, backend }
}

const tempDir = () => mkdtempSync(join(tmpdir(), "agentloop-integrity-"))
const fileStore = (dir: string, options?: RunStore.FileSystemOptions) => RunStore.layerFileSystem(dir, options).pipe(Layer.provide(NodeServices.layer))

const suspended = (outcome: RunState.RunOutcome): RunState.Suspended => {
  if (outcome._tag !== "Suspended") throw new Error(`expected Suspended, got ${JSON.stringify(outcome)}`)
  return outcome
}

const toDestroy = (call: Message.ToolCall) => Message.toolCall({ id: call.id, name: "destroy", arguments: call.arguments })

/** The stored state with its pending approval and queued call (and the model's own call) renamed to `destroy`. */
const renamed = (state: RunState.RunState, changes: Partial<Approval.PendingApproval> = {}) =>
  new RunState.RunState({
    ...state,
    pending: state.pending.map((p) => new Approval.PendingApproval({ ...p, toolName: "destroy", ...changes })),
    queue: state.queue.map(toDestroy),
    messages: state.messages.map((m) => (m._tag === "AssistantMessage" ? Message.assistant(m.text, m.toolCalls.map(toDestroy)) : m))
  })

describe("the approval digest binds the tool", () => {
  it.effect("a suspended run edited so that the pending and queued call name another gated tool with the same parameters: refused, nothing runs", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      const shared = Layer.succeedContext(yield* Layer.build(RunStore.layerMemory))
      yield* Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const store = yield* RunStore.RunStore
        const { pending } = suspended(yield* backend.run({ input: "ship 1", runId: "swap" }))
        const p = pending[0]!
        expect(p.callDigest).toBe(Approval.callDigest({ runId: "swap", toolCallId: p.toolCallId, toolName: "deploy", arguments: { version: "1" } }))
        const approval = Approval.approve(p, { by: "alice" })
        expect(approval.callDigest).toBe(p.callDigest)
        const original = Option.getOrThrow(yield* store.load("swap"))

        // The tool renamed everywhere, digests left as they were: the call no longer matches its digest.
        yield* store.save(renamed(original))
        const tampered = yield* backend.resume("swap", [approval]).pipe(Effect.flip)
        expect(tampered).toMatchObject({ _tag: "RunStateTampered", toolCallId: p.toolCallId, reason: expect.stringContaining("does not match its digest") })

        // The call digest recomputed for `destroy` too: the decision was given for `deploy`'s digest.
        const forged = Approval.callDigest({ runId: "swap", toolCallId: p.toolCallId, toolName: "destroy", arguments: { version: "1" } })
        yield* store.save(renamed(original, { callDigest: forged }))
        expect(yield* backend.resume("swap", [approval]).pipe(Effect.flip)).toMatchObject({
          _tag: "InvalidApprovalDecision",
          reason: expect.stringContaining("call digest does not match")
        })

        // The call digest stripped (as if stored before call digests existed): the decision quotes one, so it is refused.
        const { callDigest: _dropped, ...withoutDigest } = renamed(original).pending[0]!
        yield* store.save(new RunState.RunState({ ...renamed(original), pending: [new Approval.PendingApproval(withoutDigest)] }))
        expect(yield* backend.resume("swap", [approval]).pipe(Effect.flip)).toMatchObject({ _tag: "InvalidApprovalDecision" })
        expect(world.executions).toEqual([])
        expect(Option.getOrThrow(yield* store.load("swap")).status).toBe("suspended")

        // Put back as it was: the approval runs what was approved, once.
        yield* store.save(original)
        expect(yield* backend.resume("swap", [approval])).toMatchObject({ _tag: "Completed" })
        expect(world.executions).toEqual(["deploy 1"])
      }).pipe(Effect.provide(Layer.merge(world.backend(shared, [S.toolCall("deploy", { version: "1" }), S.text("done")]), shared)))
    }).pipe(Effect.scoped))

  it.effect("the same edit made to the state file on disk: RunStateTampered, nothing runs", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      const dir = tempDir()
      const backend = yield* Effect.provide(AgentBackend.AgentBackend, world.backend(fileStore(dir), [S.toolCall("deploy", { version: "1" }), S.text("done")]))
      const { pending } = suspended(yield* backend.run({ input: "ship 1", runId: "swap-file" }))
      const file = join(dir, "swap-file.json")
      const json = JSON.parse(readFileSync(file, "utf8"))
      json.pending[0].toolName = "destroy"
      json.queue[0].name = "destroy"
      writeFileSync(file, JSON.stringify(json))
      expect(yield* backend.resume("swap-file", [Approval.approve(pending[0]!)]).pipe(Effect.flip)).toMatchObject({ _tag: "RunStateTampered" })
      expect(world.executions).toEqual([])
    }))

  describe("checkStoredCalls (pure)", () => {
    const call = { runId: "r", toolCallId: "c1", toolName: "deploy", arguments: { version: "1" } }
    const pending = (fields: Partial<Approval.PendingApproval> = {}, agentName?: string) =>
      new Approval.PendingApproval({
        approvalId: "apr_1",
        ...call,
        argumentsDigest: Approval.argumentsDigest(call.arguments),
        callDigest: Approval.callDigest({ ...call, agent: agentName }),
        step: 1,
        requestedAt: 0,
        ...(agentName === undefined ? {} : { agent: agentName }),
        ...fields
      })
    const state = (fields: Partial<RunState.RunState>) =>
      new RunState.RunState({
        version: 1,
        runId: "r",
        agent: "triage",
        status: "suspended",
        messages: [Message.user("x")],
        step: 1,
        toolHistory: [],
        toolChoiceUsed: false,
        queue: [Message.toolCall({ id: "c1", name: "deploy", arguments: '{"version":"1"}' })],
        executedInStep: [],
        pending: [],
        usage: Message.Usage.empty,
        ...fields
      })

    it("an untouched approval passes; one asked after a handoff passes only while the run is with that agent", () => {
      expect(RunIntegrity.checkStoredCalls(state({ pending: [pending()] }))).toBeUndefined()
      const afterHandoff = state({ pending: [pending({}, "ops")], currentAgent: "ops", handoffs: 1 })
      expect(RunIntegrity.checkStoredCalls(afterHandoff)).toBeUndefined()
      // The run moved to another agent that has a tool of the same name: its handler would run the approval.
      expect(RunIntegrity.checkStoredCalls(new RunState.RunState({ ...afterHandoff, currentAgent: "billing" }))).toMatchObject({
        _tag: "RunStateTampered",
        reason: expect.stringContaining('asked by agent "ops", but the run is with "billing"')
      })
      // The asking agent edited along with the run's: the call no longer matches its digest.
      expect(
        RunIntegrity.checkStoredCalls(state({ pending: [pending({ agent: "billing" }, "ops")], currentAgent: "billing", handoffs: 1 }))
      ).toMatchObject({ _tag: "RunStateTampered", reason: expect.stringContaining("does not match its digest") })
    })

    it("an in-flight call renamed to another tool (queue too) is refused", () => {
      const p = pending()
      const inFlight = new RunState.InFlightCall({
        toolCallId: "c1",
        toolName: "destroy",
        arguments: { version: "1" },
        argumentsDigest: p.argumentsDigest,
        callDigest: p.callDigest
      })
      const edited = state({ status: "interrupted", queue: [Message.toolCall({ id: "c1", name: "destroy", arguments: '{"version":"1"}' })], inFlight: [inFlight] })
      expect(RunIntegrity.checkStoredCalls(edited)).toMatchObject({ _tag: "RunStateTampered", toolCallId: "c1", reason: expect.stringContaining("does not match its digest") })
      expect(RunIntegrity.checkStoredCalls(state({ status: "interrupted", inFlight: [new RunState.InFlightCall({ ...inFlight, toolName: "deploy" })] }))).toBeUndefined()
    })

    it("a stored decision must quote the pending approval's call digest", () => {
      const p = pending()
      const decision = Approval.approve(p)
      expect(RunIntegrity.checkStoredCalls(state({ pending: [p], decisions: [decision] }))).toBeUndefined()
      const { callDigest: _dropped, ...stripped } = decision
      expect(RunIntegrity.checkStoredCalls(state({ pending: [p], decisions: [new Approval.ApprovalDecision(stripped)] }))).toMatchObject({
        _tag: "RunStateTampered",
        reason: expect.stringContaining("does not match a pending approval")
      })
    })
  })
})

describe("sealed states bind their run id and revision", () => {
  const secret = "integrity-key-5be1c0d9f2"
  const key = Redacted.make(secret)

  it.effect("a sealed state copied over another run's: RunStateTampered on load and on resume; nothing runs", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      const dir = tempDir()
      const backend = yield* Effect.provide(
        AgentBackend.AgentBackend,
        world.backend(fileStore(dir, { integrityKey: key }), [S.toolCall("destroy", { version: "1" }), S.toolCall("deploy", { version: "1" })])
      )
      const a = suspended(yield* backend.run({ input: "tear down 1", runId: "run-a" }))
      const b = suspended(yield* backend.run({ input: "ship 1", runId: "run-b" }))
      copyFileSync(join(dir, "run-a.json"), join(dir, "run-b.json"))
      const loaded = yield* backend.getRun("run-b").pipe(Effect.flip)
      expect(loaded).toMatchObject({ _tag: "RunStateTampered", runId: "run-b", reason: expect.stringContaining('the state of run "run-a"') })
      // B's approver approves B's call; with A's state in B's place, A's call would run.
      expect(yield* backend.resume("run-b", [Approval.approve(b.pending[0]!)]).pipe(Effect.flip)).toMatchObject({ _tag: "RunStateTampered" })
      expect(yield* backend.resume("run-b", [Approval.approve(a.pending[0]!)]).pipe(Effect.flip)).toMatchObject({ _tag: "RunStateTampered" })
      expect(world.executions).toEqual([])
      expect(JSON.stringify(loaded) + loaded.message).not.toContain(secret)
    }))

  it.effect("a rollback to an older sealed snapshot of the same run: RunStateTampered in this process and in another; the approved call does not run again", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      const dir = tempDir()
      const store = fileStore(dir, { integrityKey: key })
      const backend = yield* Effect.provide(AgentBackend.AgentBackend, world.backend(store, [S.toolCall("deploy", { version: "1" }), S.text("done")]))
      const { pending } = suspended(yield* backend.run({ input: "ship 1", runId: "rolled" }))
      const approval = Approval.approve(pending[0]!, { by: "alice" })
      const snapshot = readFileSync(join(dir, "rolled.json"), "utf8")
      const record = readFileSync(join(dir, "rolled.rev"), "utf8")
      expect(yield* backend.resume("rolled", [approval])).toMatchObject({ _tag: "Completed" })
      expect(world.executions).toEqual(["deploy 1"])

      // The suspended snapshot put back: replaying the approval would deploy again.
      writeFileSync(join(dir, "rolled.json"), snapshot)
      const rolledBack = { _tag: "RunStateTampered", runId: "rolled", reason: expect.stringContaining("rolled back") }
      expect(yield* backend.getRun("rolled").pipe(Effect.flip)).toMatchObject(rolledBack)
      expect(yield* backend.resume("rolled", [approval]).pipe(Effect.flip)).toMatchObject(rolledBack)
      // Another process (a store that has seen nothing of this run) reads the sealed revision record.
      const other = yield* Effect.provide(RunStore.RunStore, fileStore(dir, { integrityKey: key }))
      expect(yield* other.load("rolled").pipe(Effect.flip)).toMatchObject(rolledBack)
      // The record rolled back too: this process still remembers the revision it wrote...
      writeFileSync(join(dir, "rolled.rev"), record)
      expect(yield* backend.getRun("rolled").pipe(Effect.flip)).toMatchObject(rolledBack)
      // ...a fresh one cannot tell (the documented limit: keep the records where the attacker cannot write).
      const fresh = yield* Effect.provide(RunStore.RunStore, fileStore(dir, { integrityKey: key }))
      expect(Option.getOrThrow(yield* fresh.load("rolled")).status).toBe("suspended")
      // A record edited to fit is not sealed: refused.
      writeFileSync(join(dir, "rolled.rev"), JSON.stringify({ ...JSON.parse(record), revision: 1 }))
      expect(yield* other.load("rolled").pipe(Effect.flip)).toMatchObject({ _tag: "RunStateTampered", reason: expect.stringContaining("revision record") })
      expect(world.executions).toEqual(["deploy 1"])
    }))

  it.effect("with the revision records in a directory of their own, a rollback of the state and its old record together is still refused", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      const dir = tempDir()
      const records = tempDir()
      const options = { integrityKey: key, revisionDirectory: records }
      const backend = yield* Effect.provide(AgentBackend.AgentBackend, world.backend(fileStore(dir, options), [S.toolCall("deploy", { version: "1" }), S.text("done")]))
      const { pending } = suspended(yield* backend.run({ input: "ship 1", runId: "kept" }))
      const snapshot = readFileSync(join(dir, "kept.json"), "utf8")
      expect(yield* backend.resume("kept", [Approval.approve(pending[0]!)])).toMatchObject({ _tag: "Completed" })
      writeFileSync(join(dir, "kept.json"), snapshot)
      const fresh = yield* Effect.provide(RunStore.RunStore, fileStore(dir, options))
      expect(yield* fresh.load("kept").pipe(Effect.flip)).toMatchObject({ _tag: "RunStateTampered", reason: expect.stringContaining("rolled back") })
      expect(world.executions).toEqual(["deploy 1"])
    }))
})
