import { describe, expect, it } from "@effect/vitest"
import { Redaction } from "@agentloop/core"

describe("Redaction.text", () => {
  it("scrubs credentials in URLs, parameters and bearer tokens", () => {
    const out = Redaction.text("postgres://app:s3cr3t-pass@db.example:5432/x?password=hunter22&x=1 Bearer abcdefgh12345")
    expect(out).not.toContain("s3cr3t-pass")
    expect(out).not.toContain("hunter22")
    expect(out).not.toContain("abcdefgh12345")
    expect(out).toContain("postgres://[REDACTED]@db.example")
  })

  // A pattern that scanned each start of a long letter run to its end took quadratic time: a 9 MB model answer
  // of letters hung the server that redacts events. Linear, 4 MB of each shape takes well under a second.
  it("stays linear on long runs that almost match (letters, hyphenated runs, 'x://' prefixes, '=' chains)", () => {
    for (const input of ["x".repeat(4_000_000), "a-".repeat(1_000_000), "a://".concat("b".repeat(4_000_000)), "ab://c:".repeat(500_000), "password=".repeat(400_000)]) {
      expect(Redaction.text(input).length).toBeGreaterThan(0)
    }
  }, 20_000)
})
