/** The session table's rules, as pure logic (the HTTP behaviour is in McpHttpSessions.test.ts). */
import { describe, expect, it } from "@effect/vitest"
import * as SessionTable from "../src/internal/sessionTable.js"

const table = (max: number, idleMs = 60_000) => {
  const closed: Array<string> = []
  let clock = 0
  const sessions = SessionTable.make<string>({ max, idleMs, close: (value) => void closed.push(value), now: () => ++clock })
  return { sessions, closed }
}

describe("SessionTable", () => {
  it("reservations count against the cap before the session exists: never more than max at once", () => {
    const { sessions } = table(3)
    const held = [sessions.reserve(), sessions.reserve(), sessions.reserve()]
    expect(held.every((r) => r !== undefined)).toBe(true)
    expect(sessions.reserve()).toBeUndefined()
    held[0]!.release()
    const again = sessions.reserve()
    expect(again).toBeDefined()
    // A committed reservation is a session; releasing it afterwards changes nothing.
    const entry = held[1]!.commit("s1", 0, "one")
    held[1]!.release()
    expect(sessions.size()).toBe(1)
    sessions.begin(entry)
    // Full (two reservations, one busy session) and nothing idle to evict.
    expect(sessions.reserve()).toBeUndefined()
    sessions.end(entry)
    // Now idle: it makes room.
    expect(sessions.reserve()).toBeDefined()
    expect(sessions.size()).toBe(0)
  })

  it("when full, the least recently used idle session is evicted (closed); busy ones never are", () => {
    const { sessions, closed } = table(2)
    const a = sessions.reserve()!.commit("a", 0, "A")
    const b = sessions.reserve()!.commit("b", 0, "B")
    sessions.begin(a)
    sessions.end(a) // a used after b
    sessions.begin(b) // b busy
    const c = sessions.reserve()
    expect(c).toBeDefined()
    expect(closed).toEqual(["A"])
    expect(sessions.get("a", 0)).toBeUndefined()
    c!.commit("c", 0, "C")
    // b is busy, c idle: the next reservation evicts c; the one after finds nothing to evict.
    expect(sessions.reserve()).toBeDefined()
    expect(closed).toEqual(["A", "C"])
    expect(sessions.get("b", 0)?.value).toBe("B")
    expect(sessions.reserve()).toBeUndefined()
  })

  it("a session belongs to the identity that opened it", () => {
    const { sessions } = table(2)
    sessions.reserve()!.commit("s", 1, "S")
    expect(sessions.get("s", 1)?.value).toBe("S")
    expect(sessions.get("s", 0)).toBeUndefined()
    expect(sessions.get("t", 1)).toBeUndefined()
  })

  it("an idle session expires after idleMs; a busy one does not; remove is idempotent", async () => {
    const { sessions, closed } = table(4, 30)
    const idle = sessions.reserve()!.commit("idle", 0, "I")
    const busy = sessions.reserve()!.commit("busy", 0, "B")
    sessions.begin(idle)
    sessions.end(idle)
    sessions.begin(busy)
    await new Promise((resolve) => setTimeout(resolve, 80))
    expect(closed).toEqual(["I"])
    expect(sessions.size()).toBe(1)
    sessions.end(busy)
    sessions.remove("busy")
    sessions.remove("busy")
    await new Promise((resolve) => setTimeout(resolve, 80))
    expect(closed).toEqual(["I"]) // removed (closed by its own DELETE), not expired
    expect(sessions.size()).toBe(0)
  })
})
