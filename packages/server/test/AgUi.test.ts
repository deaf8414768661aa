/**
 * The AG-UI endpoint checked with the official client (`@ag-ui/client` 1.0, which verifies the event
 * sequence): a run that needs approval ends with an interrupt; a resume answers it, with the approver taken
 * from the bearer token.
 */
import { HttpAgent } from "@ag-ui/client"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { auth, json, releaseAgent, startServer, type TestServer } from "./support.js"

const collect = (agent: HttpAgent, input: Parameters<HttpAgent["run"]>[0]) =>
  new Promise<Array<any>>((resolve, reject) => {
    const events: Array<any> = []
    agent.run(input).subscribe({ next: (event) => void events.push(event), error: reject, complete: () => resolve(events) })
  })

const input = (runId: string, extra: Record<string, unknown> = {}) => ({
  threadId: "thread-1",
  runId,
  state: {},
  messages: [{ id: "m1", role: "user" as const, content: "ship version=6.0.0" }],
  tools: [],
  context: [],
  forwardedProps: {},
  ...extra
})

describe("AG-UI endpoint", () => {
  let server: TestServer
  const counts = new Map<string, number>()
  beforeAll(async () => {
    server = await startServer({ "release-bot": releaseAgent({ counts }) })
  })
  afterAll(() => server.close())

  it("runs an agent for @ag-ui/client: approvals surface as interrupts, a resume decides them as the authenticated approver", async () => {
    const admin = new HttpAgent({ url: `${server.url}/api/agents/release-bot/agui`, headers: auth("admin") })
    const first = await collect(admin, input("agui-run-1") as never)
    const types = first.map((e) => e.type)
    expect(types[0]).toBe("RUN_STARTED")
    expect(types).toEqual(expect.arrayContaining(["STEP_STARTED", "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "STEP_FINISHED"]))
    const finished = first[first.length - 1]
    expect(finished.type).toBe("RUN_FINISHED")
    expect(finished.outcome.type).toBe("interrupt")
    const [interrupt] = finished.outcome.interrupts
    expect(interrupt).toMatchObject({ reason: "tool_approval", metadata: { toolName: "deploy", risk: "deploys", agentPath: ["release-bot"], arguments: { version: "6.0.0" } } })
    expect(counts.get("agui-run-1")).toBeUndefined()

    // A viewer cannot answer the interrupt.
    const viewer = new HttpAgent({ url: `${server.url}/api/agents/release-bot/agui`, headers: auth("viewer") })
    await expect(collect(viewer, input("agui-run-2", { resume: [{ interruptId: interrupt.id, status: "resolved", payload: { approved: true } }] }) as never)).rejects.toThrow()

    const alice = new HttpAgent({ url: `${server.url}/api/agents/release-bot/agui`, headers: auth("alice") })
    const second = await collect(alice, input("agui-run-3", { resume: [{ interruptId: interrupt.id, status: "resolved", payload: { approved: true, decidedBy: "mallory" } }] }) as never)
    expect(second[0].type).toBe("RUN_STARTED")
    const decided = second.find((e) => e.type === "CUSTOM" && e.name === "agentloop.approval_decided")
    expect(decided.value).toMatchObject({ approved: true, decidedBy: "alice@example.com" })
    expect(second.find((e) => e.type === "TOOL_CALL_RESULT")).toMatchObject({ content: "deployed 6.0.0" })
    expect(second.some((e) => e.type === "TEXT_MESSAGE_CONTENT" && e.delta.includes("deployed 6.0.0"))).toBe(true)
    expect(second[second.length - 1]).toMatchObject({ type: "RUN_FINISHED", outcome: { type: "success" } })
    expect(counts.get("agui-run-1")).toBe(1)
    const detail = await json(`${server.url}/api/runs/agui-run-1`, { who: "viewer" })
    expect(detail.body.decisions[0].decidedBy).toBe("alice@example.com")
  })

  it("a cancelled interrupt denies the call; the model is told", async () => {
    const admin = new HttpAgent({ url: `${server.url}/api/agents/release-bot/agui`, headers: auth("admin") })
    const first = await collect(admin, input("agui-run-4") as never)
    const interrupt = first[first.length - 1].outcome.interrupts[0]
    const second = await collect(admin, input("agui-run-5", { resume: [{ interruptId: interrupt.id, status: "cancelled" }] }) as never)
    expect(second.find((e) => e.type === "TOOL_CALL_RESULT").content).toContain("Cancelled from the AG-UI front end")
    expect(counts.get("agui-run-4")).toBeUndefined()
  })

  it("refuses an unauthenticated AG-UI request", async () => {
    const anonymous = new HttpAgent({ url: `${server.url}/api/agents/release-bot/agui` })
    await expect(collect(anonymous, input("agui-run-6") as never)).rejects.toThrow()
  })
})
