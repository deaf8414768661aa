import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { decide, events, json, readFrames, releaseAgent, startRun, startServer, type TestServer, until } from "./support.js"

describe("@agentloop/server HTTP API", () => {
  let server: TestServer
  const counts = new Map<string, number>()
  beforeAll(async () => {
    server = await startServer({ "release-bot": releaseAgent({ counts }) })
  })
  afterAll(() => server.close())

  it("starts a run and streams its events as SSE, numbered from 1, ending with the suspension", async () => {
    const { runId, frames, outcome } = await startRun(server.url, "release-bot", "ship version=1.0.0")
    expect(frames.map((f) => f.id)).toEqual(frames.map((_, i) => String(i + 1)))
    expect(frames.map((f) => f.event)).toContain("ApprovalRequested")
    expect(frames[0]!.event).toBe("RunStarted")
    expect(outcome._tag).toBe("Suspended")
    const detail = await json(`${server.url}/api/runs/${runId}`, { who: "viewer" })
    expect(detail.status).toBe(200)
    expect(detail.body.status).toBe("suspended")
    expect(detail.body.pending).toHaveLength(1)
    expect(detail.body.pending[0]).toMatchObject({ toolName: "deploy", risk: "deploys", agentPath: ["release-bot"], arguments: { version: "1.0.0" } })
  })

  it("serves the OpenAPI document of every endpoint", async () => {
    const doc = await json(`${server.url}/api/openapi.json`)
    expect(doc.status).toBe(200)
    expect(Object.keys(doc.body.paths).sort()).toEqual(
      [
        "/api/agents",
        "/api/agents/{agent}/runs",
        "/api/agents/{agent}/agui",
        "/api/me",
        "/api/runs",
        "/api/runs/{runId}",
        "/api/runs/{runId}/approvals/{approvalId}",
        "/api/runs/{runId}/audit",
        "/api/runs/{runId}/events",
        "/api/runs/{runId}/interrupt"
      ].sort()
    )
    expect(doc.body.components.securitySchemes).toHaveProperty("bearer")
  })

  it("the run goes on when the client that started it disconnects", async () => {
    const controller = new AbortController()
    const response = await fetch(`${server.url}/api/agents/release-bot/runs`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer admin-token-0123456789abcdef" },
      body: JSON.stringify({ input: "ship version=2.0.0", runId: "disconnected-1" }),
      signal: controller.signal
    })
    expect(response.status).toBe(200)
    controller.abort()
    const detail = await until(() => json(`${server.url}/api/runs/disconnected-1`, { who: "viewer" }), (r) => r.body.status === "suspended")
    expect(detail.body.pendingCount).toBe(1)
  })

  it("Last-Event-ID: a client that reconnects after every event loses and duplicates nothing", async () => {
    const { runId } = await startRun(server.url, "release-bot", "ship version=3.0.0")
    const pending = (await json(`${server.url}/api/runs/${runId}`, { who: "viewer" })).body.pending[0]
    expect((await decide(server.url, runId, pending.approvalId, "alice", { approved: true })).status).toBe(200)
    await until(() => json(`${server.url}/api/runs/${runId}`, { who: "viewer" }), (r) => r.body.status === "completed")
    const all = await readFrames(await events(server.url, runId))
    expect(all.length).toBeGreaterThan(10)
    expect(all.map((f) => Number(f.id))).toEqual(all.map((_, i) => i + 1))
    // Disconnect after 1, 2, ... events each time, resuming from the last id received.
    for (const step of [1, 2, 3, 5]) {
      const got: Array<string> = []
      let last: string | undefined
      for (;;) {
        const response = await events(server.url, runId, last === undefined ? {} : { lastEventId: last })
        const frames = await readFrames(response, (_, read) => read.length === step)
        if (frames.length === 0) break
        got.push(...frames.map((f) => f.id!))
        last = frames[frames.length - 1]!.id
      }
      expect(got).toEqual(all.map((f) => f.id))
    }
  })

  it("a follower of a live run gets every event once, across a suspension and the resume", async () => {
    const { runId } = await startRun(server.url, "release-bot", "ship version=3.1.0")
    const following = events(server.url, runId).then((response) => readFrames(response))
    const pending = (await json(`${server.url}/api/runs/${runId}`, { who: "viewer" })).body.pending[0]
    await decide(server.url, runId, pending.approvalId, "bob", { approved: true })
    const frames = await following
    expect(frames.map((f) => Number(f.id))).toEqual(frames.map((_, i) => i + 1))
    expect(frames.filter((f) => f.event === "RunStarted").map((f) => f.data.resumed)).toEqual([false, true])
    expect(frames[frames.length - 1]!.data.outcome._tag).toBe("Completed")
  })

  it("lists runs by status, suspended first", async () => {
    const done = await startRun(server.url, "release-bot", "ship version=4.0.0")
    const p = (await json(`${server.url}/api/runs/${done.runId}`, { who: "viewer" })).body.pending[0]
    await decide(server.url, done.runId, p.approvalId, "alice", { approved: true })
    await until(() => json(`${server.url}/api/runs/${done.runId}`, { who: "viewer" }), (r) => r.body.status === "completed")
    const waiting = await startRun(server.url, "release-bot", "ship version=4.0.1")
    const list = (await json(`${server.url}/api/runs`, { who: "viewer" })).body.runs as Array<{ runId: string; status: string }>
    const firstOther = list.findIndex((run) => run.status !== "suspended")
    expect(list.slice(firstOther).some((run) => run.status === "suspended")).toBe(false)
    expect(list.findIndex((run) => run.runId === waiting.runId)).toBeLessThan(list.findIndex((run) => run.runId === done.runId))
    const suspended = (await json(`${server.url}/api/runs?status=suspended`, { who: "viewer" })).body.runs as Array<{ status: string }>
    expect(suspended.length).toBeGreaterThan(0)
    expect(suspended.every((run) => run.status === "suspended")).toBe(true)
    expect((await json(`${server.url}/api/runs?status=bogus`, { who: "viewer" })).status).toBe(400)
  })

  it("a denial's reason reaches the model, and the approver recorded is the authenticated one", async () => {
    const { runId } = await startRun(server.url, "release-bot", "ship version=5.0.0")
    const pending = (await json(`${server.url}/api/runs/${runId}`, { who: "viewer" })).body.pending[0]
    const denied = await decide(server.url, runId, pending.approvalId, "bob", { approved: false, reason: "freeze until Monday", decidedBy: "mallory@evil.test" })
    expect(denied.status).toBe(200)
    expect(denied.body.decidedBy).toBe("bob@example.com")
    const detail = await until(() => json(`${server.url}/api/runs/${runId}`, { who: "viewer" }), (r) => r.body.status === "completed")
    expect(detail.body.outcome.text).toContain("freeze until Monday")
    expect(detail.body.decisions).toEqual([expect.objectContaining({ approved: false, decidedBy: "bob@example.com", reason: "freeze until Monday" })])
    const audit = (await json(`${server.url}/api/runs/${runId}/audit`, { who: "viewer" })).body.entries as Array<any>
    const decided = audit.find((e) => e.kind === "approval_decided")
    expect(decided).toMatchObject({ approved: false, by: "bob@example.com", reason: "freeze until Monday", tool: "deploy" })
    expect(JSON.stringify(audit)).not.toContain("mallory")
    expect(counts.get(runId)).toBeUndefined()
  })

  it("interrupts a running run (admin); it is then interrupted", async () => {
    const started = fetch(`${server.url}/api/agents/release-bot/runs`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer admin-token-0123456789abcdef" },
      body: JSON.stringify({ input: "slow", runId: "long-1" })
    })
    await started
    const interrupted = await json(`${server.url}/api/runs/long-1/interrupt`, { method: "POST", who: "admin" })
    expect(interrupted.status).toBe(200)
    const detail = await until(() => json(`${server.url}/api/runs/long-1`, { who: "viewer" }), (r) => r.body.status === "interrupted")
    expect(detail.body.status).toBe("interrupted")
    expect((await json(`${server.url}/api/runs/long-1/interrupt`, { method: "POST", who: "admin" })).status).toBe(409)
  })
})
