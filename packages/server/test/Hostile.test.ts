/**
 * A hostile client against every endpoint: no token, a viewer's token where an approver's or an admin's is
 * needed, a forged approver in the body, a replayed decision, an oversized body, a foreign Origin, planted
 * secrets, and stalled SSE clients (memory stays bounded; other clients are not slowed down).
 */
import { connect, type Socket } from "node:net"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { Redaction } from "@agentloop/core"
import { AuditLog } from "@agentloop/heroku-platform"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { auth, decide, events, json, readFrames, releaseAgent, startRun, startServer, type TestServer, tokens, until } from "./support.js"

describe("hostile clients", () => {
  let server: TestServer
  const counts = new Map<string, number>()
  let runId: string
  let approvalId: string
  beforeAll(async () => {
    server = await startServer({ "release-bot": releaseAgent({ counts }), "short-lived": releaseAgent({ expiresIn: "50 millis" }) }, { maxBodyBytes: 4096 })
    const run = await startRun(server.url, "release-bot", "ship version=9.9.9")
    runId = run.runId
    approvalId = (await json(`${server.url}/api/runs/${runId}`, { who: "viewer" })).body.pending[0].approvalId
  })
  afterAll(() => server.close())

  const endpoints = () => [
    { method: "GET", path: "/api/me" },
    { method: "GET", path: "/api/agents" },
    { method: "POST", path: "/api/agents/release-bot/runs", body: { input: "ship version=0.0.1" }, needs: "admin" },
    { method: "GET", path: "/api/runs" },
    { method: "GET", path: `/api/runs/${runId}` },
    { method: "GET", path: `/api/runs/${runId}/events` },
    { method: "GET", path: `/api/runs/${runId}/audit` },
    { method: "POST", path: `/api/runs/${runId}/approvals/${approvalId}`, body: { approved: true }, needs: "approver" },
    { method: "POST", path: `/api/runs/${runId}/interrupt`, needs: "admin" }
  ] as const

  const call = (endpoint: ReturnType<typeof endpoints>[number], headers: Record<string, string>) =>
    fetch(`${server.url}${endpoint.path}`, {
      method: endpoint.method,
      headers: { "content-type": "application/json", ...headers },
      ...("body" in endpoint ? { body: JSON.stringify(endpoint.body) } : {})
    })

  it("an unauthenticated request sees nothing: 401 on every endpoint, with no data in the body", async () => {
    for (const endpoint of endpoints()) {
      for (const headers of [{}, { authorization: "Bearer not-a-token-of-ours-at-all" }, { authorization: `Basic ${btoa("a:b")}` }, { authorization: "Bearer " }]) {
        const response = await call(endpoint, headers)
        const text = await response.text()
        expect([endpoint.path, response.status]).toEqual([endpoint.path, 401])
        expect(text).not.toContain(runId)
        expect(text).not.toContain("deploy")
      }
    }
    expect(counts.get(runId)).toBeUndefined()
  })

  it("a viewer reads but cannot decide, start or interrupt (403 naming the role needed)", async () => {
    for (const endpoint of endpoints()) {
      const response = await call(endpoint, auth("viewer"))
      if ("needs" in endpoint) {
        expect([endpoint.path, response.status]).toEqual([endpoint.path, 403])
        expect(((await response.json()) as { required: string }).required).toBe(endpoint.needs)
      } else {
        expect([endpoint.path, response.status]).toEqual([endpoint.path, 200])
        await response.body?.cancel()
      }
    }
    // An approver neither starts nor interrupts.
    expect((await call(endpoints()[2], auth("alice"))).status).toBe(403)
    expect((await call(endpoints()[8], auth("alice"))).status).toBe(403)
    const detail = await json(`${server.url}/api/runs/${runId}`, { who: "viewer" })
    expect(detail.body.status).toBe("suspended")
    expect(counts.get(runId)).toBeUndefined()
  })

  it("a foreign Origin (or a cross-site fetch) is refused on every endpoint, even with a valid token", async () => {
    for (const endpoint of endpoints()) {
      for (const headers of [{ origin: "https://evil.example" }, { origin: "null" }, { "sec-fetch-site": "cross-site" }]) {
        const response = await call(endpoint, { ...auth("admin"), ...headers })
        expect([endpoint.path, headers, response.status]).toEqual([endpoint.path, headers, 403])
        await response.body?.cancel()
      }
    }
    // The server's own origin passes.
    const own = await json(`${server.url}/api/me`, { who: "viewer", headers: { origin: server.url } })
    expect(own.status).toBe(200)
    expect(counts.get(runId)).toBeUndefined()
  })

  it("an oversized body is refused with 413 before it is read; a chunked one is cut at the limit", async () => {
    const big = JSON.stringify({ approved: false, reason: "x".repeat(10_000) })
    const refused = await fetch(`${server.url}/api/runs/${runId}/approvals/${approvalId}`, { method: "POST", headers: { "content-type": "application/json", ...auth("alice") }, body: big })
    expect(refused.status).toBe(413)
    const chunked = await fetch(`${server.url}/api/agents/release-bot/runs`, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth("admin") },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(JSON.stringify({ input: "y".repeat(20_000) })))
          controller.close()
        }
      }),
      duplex: "half"
    } as RequestInit)
    expect(chunked.status).toBeGreaterThanOrEqual(400)
    expect(chunked.status).toBeLessThan(500)
    await chunked.body?.cancel()
    expect((await json(`${server.url}/api/runs/${runId}`, { who: "viewer" })).body.status).toBe("suspended")
  })

  it("bad input gets a clear error naming the field", async () => {
    const response = await decide(server.url, runId, approvalId, "alice", { approved: "yes" })
    expect(response.status).toBe(400)
    expect(JSON.stringify(response.body)).toContain("approved")
    const badId = await json(`${server.url}/api/runs/..%2F..%2Fetc`, { who: "viewer" })
    expect([400, 404]).toContain(badId.status)
  })

  it("a forged approver in the body is not recorded; a replayed decision is refused and nothing runs twice", async () => {
    const first = await decide(server.url, runId, approvalId, "alice", { approved: true, decidedBy: "mallory@evil.test", reason: "ok" })
    expect(first.status).toBe(200)
    expect(first.body.decidedBy).toBe(tokens.alice.subject)
    await until(() => json(`${server.url}/api/runs/${runId}`, { who: "viewer" }), (r) => r.body.status === "completed")
    for (const who of ["alice", "bob", "admin"] as const) {
      const replay = await decide(server.url, runId, approvalId, who, { approved: true })
      expect(replay.status).toBe(409)
      expect(replay.body._tag).toBe("AlreadyDecided")
      expect(replay.body.decidedBy).toBe(tokens.alice.subject)
    }
    expect(counts.get(runId)).toBe(1)
    const frames = await readFrames(await events(server.url, runId))
    expect(JSON.stringify(frames)).not.toContain("mallory")
    expect(frames.find((f) => f.event === "ApprovalDecided")!.data.decidedBy).toBe(tokens.alice.subject)
  })

  it("an expired approval is refused with 410 and the call does not run", async () => {
    const run = await startRun(server.url, "short-lived", "ship version=1.2.3")
    const pending = (await json(`${server.url}/api/runs/${run.runId}`, { who: "viewer" })).body.pending[0]
    await new Promise((resolve) => setTimeout(resolve, 80))
    const late = await decide(server.url, run.runId, pending.approvalId, "alice", { approved: true })
    expect(late.status).toBe(410)
    expect(late.body._tag).toBe("ApprovalExpired")
  })

  it("planted secrets never reach events, run details or audit entries; arguments are redacted as the audit log redacts them", async () => {
    const secret = "postgres://admin:hunter2hunter2@db.internal:5432/prod"
    const run = await startRun(server.url, "release-bot", `ship version=7.0.0 note=${secret}`)
    const served = [
      JSON.stringify(run.frames),
      JSON.stringify((await json(`${server.url}/api/runs/${run.runId}`, { who: "viewer" })).body),
      JSON.stringify((await json(`${server.url}/api/runs/${run.runId}/audit`, { who: "viewer" })).body),
      JSON.stringify(await readFrames(await events(server.url, run.runId), (f) => f.event === "RunFinished"))
    ]
    for (const text of served) expect(text).not.toContain("hunter2")
    const args = { version: "7.0.0", note: secret }
    const pending = (await json(`${server.url}/api/runs/${run.runId}`, { who: "viewer" })).body.pending[0]
    expect(pending.arguments).toEqual(AuditLog.redactArguments(args))
    expect(pending.arguments).toEqual(Redaction.args(args))
    expect(run.frames.find((f) => f.event === "ToolCalled")!.data.arguments).toEqual(AuditLog.redactArguments(args))
  })

  /** Heap and array buffers in use after a full GC. */
  const measure = () => {
    setFlagsFromString("--expose-gc")
    ;(runInNewContext("gc") as () => void)()
    const m = process.memoryUsage()
    return m.heapUsed + m.arrayBuffers
  }

  /** The run stored as completed and the stream of the client that started it closed: a baseline to measure from. */
  const settled = async (runId: string) => {
    await until(() => json(`${server.url}/api/runs/${runId}`, { who: "viewer" }), (r) => r.body.status === "completed")
    await new Promise((resolve) => setTimeout(resolve, 500))
  }

  /**
   * Clients that ask for a run's events and never read them, returned once the server has stopped writing to
   * them: the kernel takes megabytes per socket first, and on a loaded machine the writes in flight meanwhile
   * would be measured too. At least 1.5 s, then until the memory in use holds still (at most 10 s more).
   */
  const stall = async (count: number, runId: string): Promise<ReadonlyArray<Socket>> => {
    const stalled: Array<Socket> = []
    for (let i = 0; i < count; i++) {
      const socket = connect(Number(new URL(server.url).port), "127.0.0.1")
      socket.pause()
      socket.write(`GET /api/runs/${runId}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${tokens.viewer.token}\r\n\r\n`)
      stalled.push(socket)
    }
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const deadline = Date.now() + 10_000
    for (let previous = measure(); Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      const current = measure()
      if (Math.abs(current - previous) < 256 * 1024) break
      previous = current
    }
    return stalled
  }

  it("stalled SSE clients hold no queue: memory stays bounded and another client gets every event at once", async () => {
    // A run with ~9 MB of events.
    const big = await startRun(server.url, "release-bot", "chunks=1500 size=6000")
    expect(big.frames.length).toBeGreaterThan(1500)
    await settled(big.runId)
    const before = measure()
    const stalled = await stall(8, big.runId)
    const during = measure()
    // Another client follows a new run from its start while the stalled ones hold their connections.
    const started = Date.now()
    const other = await startRun(server.url, "release-bot", "ship version=8.0.0")
    expect(other.outcome._tag).toBe("Suspended")
    const replay = await readFrames(await events(server.url, big.runId), (_, read) => read.length === big.frames.length)
    expect(replay.map((f) => f.id)).toEqual(big.frames.map((f) => f.id))
    expect(Date.now() - started).toBeLessThan(10_000)
    for (const socket of stalled) socket.destroy()
    // Eight clients that had to buffer the whole log would hold ~8 x 9 MB; pulled streams hold a few batches each.
    expect(during - before).toBeLessThan(16 * 1024 * 1024)
  })

  it("a stalled SSE client on large events holds about one event, not a batch of them", async () => {
    // 100 events of 128 KB: a batch of 32 such frames would be 4 MB per client, held twice while stalled.
    const big = await startRun(server.url, "release-bot", "chunks=100 size=128000")
    expect(big.frames.filter((f) => f.event === "TextDelta")).toHaveLength(100)
    await settled(big.runId)
    const before = measure()
    const stalled = await stall(8, big.runId)
    const during = measure()
    for (const socket of stalled) socket.destroy()
    // Frames are handed at most RunLog.batchChars (64 KB) at a time, or one larger frame: under 1 MB a client.
    expect(during - before).toBeLessThan(8 * 1024 * 1024)
  })
})
