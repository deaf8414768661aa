/**
 * Starts a test's child script asynchronously: node with tsx as its loader, so the child's pid is the script
 * itself and a SIGKILL reaches it. `exited` resolves when it exits, with what it printed.
 */
import { type ChildProcess, spawn } from "node:child_process"

export interface Exited {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export const spawnScript = (script: string, args: ReadonlyArray<string>): { readonly child: ChildProcess; readonly exited: Promise<Exited> } => {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], { stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (chunk) => (stdout += chunk))
  child.stderr!.on("data", (chunk) => (stderr += chunk))
  const exited = new Promise<Exited>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })))
  return { child, exited }
}
