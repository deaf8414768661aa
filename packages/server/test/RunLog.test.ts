/** The run log alone (pure, no HTTP): the batches a client is handed are bounded in frames and in size. */
import { RunLog } from "@agentloop/server"
import { Effect, Stream } from "effect"
import { describe, expect, it } from "vitest"

const logOf = (sizes: ReadonlyArray<number>) => {
  const log = new RunLog.RunLog()
  for (const [i, size] of sizes.entries()) log.append("TextDelta", `${i}`.padEnd(size, "x"))
  return log
}

describe("RunLog", () => {
  it("hands a client at most batchSize small frames at a time", () => {
    const log = logOf(Array.from({ length: 100 }, () => 40))
    expect(log.after(0).entries.map((e) => e.seq)).toEqual(Array.from({ length: RunLog.batchSize }, (_, i) => i + 1))
    expect(log.after(90).entries.map((e) => e.seq)).toEqual([91, 92, 93, 94, 95, 96, 97, 98, 99, 100])
  })

  it("hands a client at most batchChars of large frames at a time, and always at least one frame", () => {
    // 40 events of 20 KB: three fit in 64 KB; a 1 MB event comes alone.
    const log = logOf([...Array.from({ length: 40 }, () => 20 * 1024), 1024 * 1024, 10])
    expect(log.after(0).entries.map((e) => e.seq)).toEqual([1, 2, 3])
    expect(log.after(39).entries.map((e) => e.seq)).toEqual([40])
    expect(log.after(40).entries.map((e) => e.seq)).toEqual([41])
    expect(log.after(41).entries.map((e) => e.seq)).toEqual([42])
    for (let cursor = 0; cursor < log.last; cursor++) {
      const { entries } = log.after(cursor)
      const chars = entries.reduce((n, e) => n + e.frame.data.length, 0)
      expect(entries.length === 1 || chars <= RunLog.batchChars).toBe(true)
    }
  })

  it("a follower reads every frame once, in order, batch after batch", async () => {
    const sizes = Array.from({ length: 300 }, (_, i) => (i % 7 === 0 ? 30_000 : 100))
    const log = logOf(sizes)
    log.end()
    const frames = await Effect.runPromise(Stream.runCollect(RunLog.follow(log, 0)))
    expect(frames.map((f) => f.id)).toEqual(sizes.map((_, i) => String(i + 1)))
  })
})
