/** DNS-rebinding protection, as pure logic (the HTTP behaviour is in McpHttpSessions.test.ts). */
import { McpOriginGuard } from "@agentloop/mcp"
import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"

const guard = (options: Parameters<typeof McpOriginGuard.make>[0]) => {
  const made = McpOriginGuard.make(options)
  if (Result.isFailure(made)) throw new Error(made.failure.reason)
  return made.success
}

describe("McpOriginGuard", () => {
  it("bound to loopback: localhost, 127.0.0.1 and [::1] on any port; any other Host is refused", () => {
    const loopback = guard({ bind: "127.0.0.1" })
    for (const host of ["localhost", "localhost:8787", "127.0.0.1:1", "[::1]:8787", "LOCALHOST:9"]) {
      expect(McpOriginGuard.check(loopback, host, undefined)).toBeUndefined()
    }
    for (const host of ["evil.example.com", "evil.example.com:8787", "127.0.0.1.evil.example", "localhost.evil", "", "a b", "[::2]:1"]) {
      expect(McpOriginGuard.check(loopback, host, undefined)).toMatch(/^Forbidden: the Host header/)
    }
    expect(McpOriginGuard.check(loopback, undefined, undefined)).toBe('Forbidden: the Host header "" is not allowed')
  })

  it("Origin: absent is fine (non-browser clients); one on an allowed host passes; any other, or null, is refused", () => {
    const loopback = guard({ bind: "localhost" })
    expect(McpOriginGuard.check(loopback, "localhost:1", "http://localhost:5173")).toBeUndefined()
    expect(McpOriginGuard.check(loopback, "localhost:1", "http://127.0.0.1")).toBeUndefined()
    for (const origin of ["http://evil.example.com", "null", "file://", "chrome-extension://abc", "http://localhost.evil.example"]) {
      expect(McpOriginGuard.check(loopback, "localhost:1", origin)).toMatch(/^Forbidden: the Origin/)
    }
  })

  it("configured hosts and origins replace the defaults; a port in a host entry is enforced", () => {
    const configured = guard({ bind: "0.0.0.0", allowedHosts: ["mcp.example.com", "ops.example.com:8443"], allowedOrigins: ["https://app.example.com"] })
    expect(McpOriginGuard.check(configured, "mcp.example.com:443", undefined)).toBeUndefined()
    expect(McpOriginGuard.check(configured, "ops.example.com:8443", "https://app.example.com")).toBeUndefined()
    expect(McpOriginGuard.check(configured, "ops.example.com:8444", undefined)).toMatch(/Host/)
    expect(McpOriginGuard.check(configured, "localhost", undefined)).toMatch(/Host/)
    expect(McpOriginGuard.check(configured, "mcp.example.com", "https://mcp.example.com")).toMatch(/Origin/)
    expect(McpOriginGuard.check(configured, "mcp.example.com", "https://app.example.com:444")).toMatch(/Origin/)
  })

  it("a non-loopback bind defaults to its own address; a wildcard bind must name its hosts; bad entries name the option", () => {
    const lan = guard({ bind: "192.168.1.5" })
    expect(McpOriginGuard.check(lan, "192.168.1.5:8787", undefined)).toBeUndefined()
    expect(McpOriginGuard.check(lan, "localhost:8787", undefined)).toMatch(/Host/)
    const wildcard = McpOriginGuard.make({ bind: "0.0.0.0" })
    expect(Result.isFailure(wildcard) && wildcard.failure.option).toBe("allowedHosts")
    const bad = McpOriginGuard.make({ bind: "127.0.0.1", allowedHosts: ["http://x"] })
    expect(Result.isFailure(bad) && bad.failure).toEqual({ option: "allowedHosts", reason: '"http://x" is not a host name or host:port' })
    const badOrigin = McpOriginGuard.make({ bind: "127.0.0.1", allowedOrigins: ["app.example.com"] })
    expect(Result.isFailure(badOrigin) && badOrigin.failure.option).toBe("allowedOrigins")
    expect(McpOriginGuard.isLoopback("127.0.0.2")).toBe(true)
    expect(McpOriginGuard.isLoopback("::1")).toBe(true)
    expect(McpOriginGuard.isLoopback("10.0.0.1")).toBe(false)
  })
})
