import { AgentBackend, Approval, type AgentEvent, Message, RunState, RunStore, ToolRule } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option } from "effect"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { agent, collect, harness, initialState, runCollect, toolResults } from "./fixtures.js"

const S = ScriptedModel

const suspended = (outcome: RunState.RunOutcome): RunState.Suspended => {
  if (outcome._tag !== "Suspended") throw new Error(`expected Suspended, got ${JSON.stringify(outcome)}`)
  return outcome
}

const failureText = <A, E>(exit: Exit.Exit<A, E>) => (Exit.isFailure(exit) ? JSON.stringify(exit.cause) : "success")

/** Every tool call in the conversation has exactly one tool message. */
const expectOneResultPerCall = (messages: ReadonlyArray<Message.Message>) => {
  const calls = messages.flatMap((m) => (m._tag === "AssistantMessage" ? m.toolCalls.map((c) => c.id) : []))
  const results = messages.flatMap((m) => (m._tag === "ToolMessage" ? [m.toolCallId] : []))
  expect([...results].sort()).toEqual([...calls].sort())
}

describe("approval policies", () => {
  it.effect("auto-approve runs the gated tool and reports who approved", () =>
    Effect.gen(function* () {
      const h = harness([S.toolCall("deploy", { version: "1.2" }), S.text("deployed")])
      const { events, outcome } = yield* runCollect("ship it").pipe(Effect.provide(h.layer))
      expect(outcome._tag).toBe("Completed")
      expect(h.handlers.names()).toEqual(["deploy"])
      expect(events.find((e) => e._tag === "ApprovalDecided")).toMatchObject({ approved: true, decidedBy: "auto-approve" })
    }))

  it.effect("deny-all never runs the tool; the model sees the reason and the run goes on", () =>
    Effect.gen(function* () {
      const h = harness([S.toolCall("deploy", { version: "1.2" }), S.text("ok, not deploying")], {
        approvals: Approval.layerDenyAll("change freeze")
      })
      const { events, outcome } = yield* runCollect("ship it").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Completed", text: "ok, not deploying" })
      expect(h.handlers.names()).toEqual([])
      expect(toolResults(events)[0]).toMatchObject({
        errorKind: "Denied",
        content: "Error: request to call tool denied. User reason: change freeze"
      })
    }))

  it.effect("a policy decides per call, from a function or an Effect; a failing policy denies", () =>
    Effect.gen(function* () {
      const policy = Approval.layerPolicy((request) =>
        request.arguments["version"] === "boom"
          ? Effect.fail("policy backend unreachable")
          : request.arguments["version"] === "1"
            ? Approval.Verdict.approved({ by: "policy" })
            : Effect.succeed(Approval.Verdict.denied("only version 1 may ship", { by: "policy" }))
      )
      const h = harness(
        [
          S.toolCalls([
            { name: "deploy", args: { version: "1" } },
            { name: "deploy", args: { version: "2" } },
            { name: "deploy", args: { version: "boom" } }
          ]),
          S.text("done")
        ],
        { approvals: policy }
      )
      const { events } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(h.handlers.calls.map((c) => c.args)).toEqual([{ version: "1" }])
      const results = toolResults(events)
      expect(results.map((r) => r.errorKind ?? "ok")).toEqual(["ok", "Denied", "Denied"])
      expect(results[1]!.content).toContain("only version 1 may ship")
      expect(results[2]!.content).toContain("Approval policy failed")
    }))

  it.effect("a requires-approval rule gates a tool that is not gated itself", () =>
    Effect.gen(function* () {
      const h = harness([S.toolCall("echo", { text: "x" }), S.text("ok")], {
        agent: agent({ rules: [ToolRule.requiresApproval("echo")] }),
        approvals: Approval.layerDenyAll("no")
      })
      yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(h.handlers.names()).toEqual([])
    }))

  it.effect("rules are checked before approval: a forbidden call is never shown to a human", () =>
    Effect.gen(function* () {
      let asked = 0
      const h = harness([S.toolCall("deploy", { version: "1" }), S.toolCall("echo", { text: "first" }), S.text("ok")], {
        agent: agent({ rules: [ToolRule.init("echo")] }),
        approvals: Approval.layerPolicy(() => (asked++, Approval.Verdict.approved()))
      })
      const { events } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(asked).toBe(0)
      expect(toolResults(events)[0]!.errorKind).toBe("RuleViolation")
      expect(h.handlers.names()).toEqual(["echo"])
    }))

  it.effect("invalid arguments are rejected before a human is asked", () =>
    Effect.gen(function* () {
      let asked = 0
      const h = harness([S.toolCall("deploy", { version: 7 }), S.text("ok")], {
        approvals: Approval.layerPolicy(() => (asked++, Approval.Verdict.approved()))
      })
      const { events } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(asked).toBe(0)
      expect(toolResults(events)[0]!.errorKind).toBe("InvalidArguments")
    }))
})

describe("suspend and resume", () => {
  const suspendHarness = (turns: ReadonlyArray<ScriptedModel.Turn>, options: Parameters<typeof harness>[1] = {}) =>
    harness(turns, { approvals: Approval.layerSuspend(), ...options })

  it.effect("suspends, persists, and on approval runs the tool exactly once", () => {
    const h = suspendHarness([S.toolCall("deploy", { version: "2.0" }), S.text("deployed 2.0")])
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const first = yield* collect(backend.stream({ input: "ship", runId: "run-a" }))
      const { pending } = suspended(first.outcome)
      expect(pending).toHaveLength(1)
      expect(pending[0]).toMatchObject({ runId: "run-a", toolName: "deploy", arguments: { version: "2.0" } })
      expect(pending[0]!.argumentsDigest).toBe(Approval.argumentsDigest({ version: "2.0" }))
      expect(first.events.some((e) => e._tag === "ApprovalRequested")).toBe(true)
      expect(h.handlers.names()).toEqual([])
      const stored = Option.getOrThrow(yield* backend.getRun("run-a"))
      expect(stored.status).toBe("suspended")

      const second = yield* collect(backend.resumeStream("run-a", [Approval.approve(pending[0]!, { by: "alice" })]))
      expect(second.outcome).toMatchObject({ _tag: "Completed", text: "deployed 2.0" })
      expect(second.events[0]).toMatchObject({ _tag: "RunStarted", resumed: true })
      expect(second.events.find((e) => e._tag === "ApprovalDecided")).toMatchObject({ approved: true, decidedBy: "alice" })
      expect(h.handlers.calls).toEqual([{ tool: "deploy", args: { version: "2.0" }, idempotencyKey: `run-a:${pending[0]!.toolCallId}` }])
      expectOneResultPerCall(h.model.requests[1]!.messages)
    }).pipe(Effect.provide(h.layer))
  })

  it.effect("a denial with a reason becomes the tool result; the tool never runs", () => {
    const h = suspendHarness([S.toolCall("deploy", { version: "2.0" }), S.text("understood")])
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const { pending } = suspended(yield* backend.run({ input: "ship", runId: "run-d" }))
      const { events, outcome } = yield* collect(backend.resumeStream("run-d", [Approval.deny(pending[0]!, "not on a Friday")]))
      expect(outcome._tag).toBe("Completed")
      expect(toolResults(events)[0]).toMatchObject({
        isError: true,
        content: "Error: request to call tool denied. User reason: not on a Friday"
      })
      expect(h.handlers.names()).toEqual([])
    }).pipe(Effect.provide(h.layer))
  })

  it.effect("stale, duplicate, forged and tampered decisions are rejected, and the run stays suspended", () => {
    const h = suspendHarness([S.toolCall("deploy", { version: "1" }), S.toolCall("deploy", { version: "2" }), S.text("done")])
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const { pending } = suspended(yield* backend.run({ input: "x", runId: "run-s" }))
      const p = pending[0]!
      const attempt = (decisions: ReadonlyArray<Approval.ApprovalDecision>) => backend.resume("run-s", decisions).pipe(Effect.exit)

      expect(failureText(yield* attempt([Approval.approve(p), Approval.approve(p)]))).toContain("the decision is given twice")
      expect(failureText(yield* attempt([new Approval.ApprovalDecision({ ...Approval.approve(p), approvalId: "apr_forged" })]))).toContain(
        "the approval id does not match"
      )
      expect(
        failureText(yield* attempt([new Approval.ApprovalDecision({ ...Approval.approve(p), argumentsDigest: Approval.argumentsDigest({ version: "9" }) })]))
      ).toContain("arguments digest does not match")
      expect(failureText(yield* attempt([new Approval.ApprovalDecision({ ...Approval.approve(p), toolCallId: "call_other" })]))).toContain(
        "no approval is pending for this tool call"
      )
      expect(h.handlers.names()).toEqual([])
      expect(Option.getOrThrow(yield* backend.getRun("run-s")).status).toBe("suspended")

      // The real decision works once; the run then suspends on the second deploy.
      const next = suspended(yield* backend.resume("run-s", [Approval.approve(p)]))
      expect(h.handlers.names()).toEqual(["deploy"])
      // Replaying the consumed decision is stale now.
      expect(failureText(yield* attempt([Approval.approve(p)]))).toContain("no approval is pending for this tool call")
      yield* backend.resume("run-s", [Approval.approve(next.pending[0]!)])
      expect(h.handlers.names()).toEqual(["deploy", "deploy"])
      // A completed run cannot be resumed again.
      expect(failureText(yield* attempt([]))).toContain("RunNotResumable")
    }).pipe(Effect.provide(h.layer))
  })

  it.effect("parallel gated calls suspend together; partial decisions leave the rest pending", () => {
    const h = suspendHarness([
      S.toolCalls([
        { name: "echo", args: { text: "ungated" } },
        { name: "deploy", args: { version: "a" } },
        { name: "deploy", args: { version: "b" } }
      ]),
      S.text("all settled")
    ])
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const first = suspended(yield* backend.run({ input: "x", runId: "run-p" }))
      expect(first.pending.map((p) => p.arguments)).toEqual([{ version: "a" }, { version: "b" }])
      expect(h.handlers.names()).toEqual(["echo"]) // the ungated sibling ran

      const second = suspended(yield* backend.resume("run-p", [Approval.approve(first.pending[0]!)]))
      expect(second.pending.map((p) => p.arguments)).toEqual([{ version: "b" }])
      expect(h.model.requests).toHaveLength(1) // no model call while approvals are pending

      const done = yield* backend.resume("run-p", [Approval.deny(second.pending[0]!, "b is broken")])
      expect(done).toMatchObject({ _tag: "Completed", text: "all settled" })
      expect(h.handlers.calls.map((c) => c.args)).toEqual([{ text: "ungated" }, { version: "a" }])
      expectOneResultPerCall(h.model.requests[1]!.messages)
    }).pipe(Effect.provide(h.layer))
  })

  it.effect("with ordering rules, calls after a pending one wait and then run in order", () => {
    const h = suspendHarness(
      [
        S.toolCalls([
          { name: "deploy", args: { version: "1" } },
          { name: "echo", args: { text: "after deploy" } }
        ]),
        S.text("ok")
      ],
      { agent: agent({ rules: [ToolRule.maxCountPerStep("echo", 5)] }) }
    )
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const { pending } = suspended(yield* backend.run({ input: "x", runId: "run-o" }))
      expect(h.handlers.names()).toEqual([])
      yield* backend.resume("run-o", [Approval.approve(pending[0]!)])
      expect(h.handlers.names()).toEqual(["deploy", "echo"])
    }).pipe(Effect.provide(h.layer))
  })

  it.effect("an approval that expired before anyone decided is denied on resume", () => {
    const h = suspendHarness([S.toolCall("deploy", { version: "1" }), S.text("ok")], {
      approvals: Approval.layerSuspend({ expiresIn: 0 })
    })
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      suspended(yield* backend.run({ input: "x", runId: "run-e" }))
      const { events } = yield* collect(backend.resumeStream("run-e", []))
      expect(events.find((e) => e._tag === "ApprovalDecided")).toMatchObject({ approved: false, decidedBy: "expiry" })
      expect(h.handlers.names()).toEqual([])
    }).pipe(Effect.provide(h.layer))
  })

  it.effect("a tool's approval predicate gates only the calls it matches", () =>
    Effect.gen(function* () {
      const { Tool, Toolkit, Agent } = yield* Effect.promise(() => import("@agentloop/core"))
      const { Schema } = yield* Effect.promise(() => import("effect"))
      const refund = Tool.make("refund", {
        description: "Refund an order.",
        parameters: { amount: Schema.Number },
        success: Schema.String,
        requiresApproval: ({ amount }) => amount > 100
      })
      const toolkit = Toolkit.make(refund)
      const model = ScriptedModel.make([
        S.toolCalls([
          { name: "refund", args: { amount: 20 } },
          { name: "refund", args: { amount: 500 } }
        ]),
        S.text("ok")
      ])
      const ran: Array<number> = []
      const layer = AgentBackend.layerLocal(Agent.make({ name: "refunds", toolkit })).pipe(
        Layer.provide(
          Layer.mergeAll(
            model.layer,
            toolkit.toLayer({ refund: ({ amount }) => Effect.sync(() => (ran.push(amount), "refunded")) }),
            Approval.layerDenyAll("too large"),
            RunStore.layerMemory
          )
        )
      )
      yield* runCollect("x").pipe(Effect.provide(layer))
      expect(ran).toEqual([20])
    }))

  it.effect("a run resumes only under the agent that started it", () => {
    const store = Effect.runSync(Effect.provide(RunStore.RunStore, RunStore.layerMemory))
    const storeLayer = Layer.succeed(RunStore.RunStore, store)
    const h = suspendHarness([S.toolCall("deploy", { version: "1" })], { store: storeLayer })
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const { pending } = suspended(yield* backend.run({ input: "x", runId: "run-x" }))
      const state = Option.getOrThrow(yield* store.load("run-x"))
      yield* store.save(new RunState.RunState({ ...state, agent: "someone-else" }))
      const exit = yield* backend.resume("run-x", [Approval.approve(pending[0]!)]).pipe(Effect.exit)
      expect(failureText(exit)).toContain('it belongs to agent \\"someone-else\\"')
      expect(h.handlers.names()).toEqual([])
    }).pipe(Effect.provide(h.layer))
  })
})

describe("approval context and observers", () => {
  it.effect("a handler sees who approved its call; an EventObserver sees every event, including denials", () =>
    Effect.gen(function* () {
      const { Tool, Toolkit, Agent, AgentEvent } = yield* Effect.promise(() => import("@agentloop/core"))
      const { Schema } = yield* Effect.promise(() => import("effect"))
      const Op = Tool.make("op", { description: "op", parameters: { n: Schema.Number }, success: Schema.String, requiresApproval: true })
      const toolkit = Toolkit.make(Op)
      const seen: Array<unknown> = []
      const observed: Array<AgentEvent.AgentEvent> = []
      const model = ScriptedModel.make([
        S.toolCalls([
          { name: "op", args: { n: 1 } },
          { name: "op", args: { n: 2 } }
        ]),
        S.text("ok")
      ])
      const layer = AgentBackend.layerLocal(Agent.make({ name: "ctx", toolkit })).pipe(
        Layer.provide(
          Layer.mergeAll(
            model.layer,
            toolkit.toLayer({ op: (_, ctx) => Effect.sync(() => (seen.push(ctx.approval), "done")) }),
            Approval.layerPolicy((r) => (r.arguments["n"] === 1 ? Approval.Verdict.approved({ by: "carol", reason: "fine" }) : Approval.Verdict.denied("no", { by: "dave" }))),
            RunStore.layerMemory,
            Layer.succeed(AgentEvent.EventObserver, { observe: (e) => void observed.push(e) })
          )
        )
      )
      yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(layer))
      expect(seen).toEqual([{ decidedBy: "carol", reason: "fine" }])
      const decisions = observed.filter((e) => e._tag === "ApprovalDecided")
      expect(decisions).toMatchObject([
        { approved: true, decidedBy: "carol", arguments: { n: 1 } },
        { approved: false, decidedBy: "dave", arguments: { n: 2 } }
      ])
      expect(observed.at(-1)?._tag).toBe("RunFinished")
    }))
})

describe("RunState", () => {
  const sample = () =>
    new RunState.RunState({
      version: 1,
      runId: "r",
      agent: "a",
      status: "suspended",
      messages: [Message.user("hi"), Message.assistant("", [Message.toolCall({ id: "c1", name: "deploy", arguments: '{"v":1}' })])],
      step: 1,
      toolHistory: ["echo"],
      lastToolOutput: "x",
      toolChoiceUsed: false,
      queue: [Message.toolCall({ id: "c1", name: "deploy", arguments: '{"v":1}' })],
      executedInStep: [],
      pending: [
        new Approval.PendingApproval({
          approvalId: "apr_1",
          runId: "r",
          toolCallId: "c1",
          toolName: "deploy",
          arguments: { v: 1 },
          argumentsDigest: Approval.argumentsDigest({ v: 1 }),
          step: 1,
          requestedAt: 0
        })
      ],
      usage: Message.Usage.empty
    })

  it.effect("round-trips through JSON", () =>
    Effect.gen(function* () {
      const state = sample()
      const decoded = yield* RunState.decodeJson("r", RunState.encodeJson(state))
      expect(decoded).toEqual(state)
    }))

  it.effect("rejects an unknown version, corrupt JSON and a missing field with clear errors", () =>
    Effect.gen(function* () {
      const json = JSON.parse(RunState.encodeJson(sample()))
      const v2 = yield* RunState.decodeJson("r", JSON.stringify({ ...json, version: 2 })).pipe(Effect.flip)
      expect(v2.message).toBe("Cannot read the state of run r: unsupported version 2 (this library reads version 1)")
      const corrupt = yield* RunState.decodeJson("r", "{oops").pipe(Effect.flip)
      expect(corrupt.message).toContain("not valid JSON")
      const { step: _step, ...missing } = json
      const field = yield* RunState.decodeJson("r", JSON.stringify(missing)).pipe(Effect.flip)
      expect(field.message).toContain('["step"]')
      // Effect 4's Schema words it "Missing key" (Effect 3: "is missing").
      expect(field.message).toContain("Missing key")
    }))

  it("the argument digest ignores key order", () => {
    expect(Approval.argumentsDigest({ a: 1, b: [1, { c: 2, d: 3 }] })).toBe(Approval.argumentsDigest({ b: [1, { d: 3, c: 2 }], a: 1 }))
    expect(Approval.argumentsDigest({ a: 1 })).not.toBe(Approval.argumentsDigest({ a: 2 }))
  })
})

describe("RunStore.layerFileSystem", () => {
  it.effect("saves atomically, loads, deletes, and refuses unsafe run ids", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "agentloop-store-"))
      try {
        const store = yield* Effect.provide(RunStore.RunStore, RunStore.layerFileSystem(dir).pipe(Layer.provide(NodeServices.layer)))
        const state = initialState({ runId: "run-1", agent: "a", status: "completed", input: "x" })
        yield* store.save(state)
        expect(JSON.parse(readFileSync(join(dir, "run-1.json"), "utf8")).runId).toBe("run-1")
        expect(Option.getOrThrow(yield* store.load("run-1"))).toEqual({ ...state, revision: 1 })
        yield* store.delete("run-1")
        expect(Option.isNone(yield* store.load("run-1"))).toBe(true)
        const unsafe = yield* store.load("../etc/passwd").pipe(Effect.flip)
        expect(unsafe.message).toContain("run ids may only contain")
        // A state that cannot be encoded is a typed error, not a crash.
        // Built past the constructor: Effect 4's class constructor checks the structure even with `disableChecks`.
        const broken: RunState.RunState = Object.assign(Object.create(Object.getPrototypeOf(state)), state, { runId: "run-2", usage: { bad: true } })
        const failed = yield* store.save(broken).pipe(Effect.flip)
        expect(failed).toMatchObject({ _tag: "RunStoreError", operation: "save", runId: "run-2" })
        expect(failed.message).toContain("cannot encode the state")
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }))
})

export type { AgentEvent }
