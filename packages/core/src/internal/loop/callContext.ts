/**
 * What a tool's handler is told about its call (`Tool.HandlerContext`): the run, the call, its approval, its
 * idempotency key, and the hooks a sub-agent tool uses (suspend, nested decisions, forwarded events).
 *
 * @internal
 */
import type * as Tool from "../../Tool.js"
import * as CallKey from "../callKey.js"
import type { Working } from "./record.js"

/** Marks `CallContext`'s step qualifier as not looked up yet. */
const unknownStep = -1

/**
 * What a handler is told about its call. The step qualifier of its keys (see `CallKey`: a provider may reuse
 * an id on every step) is looked up when a key is first read, so a handler that reads none costs no lookup; a
 * read after later steps gets the key of its call's step (`CallKey.repeatedAt`). Only a read after the run
 * handed off (a background fiber outliving its call) could differ: read keys while the call runs.
 */
export class CallContext implements Tool.HandlerContext {
  readonly runId: string
  approval?: { readonly decidedBy?: string; readonly reason?: string }
  readonly #w: Working
  readonly #step: number
  /** The messages when the call started: its step's assistant message is the last of them. */
  readonly #length: number
  #repeated: number | undefined = unknownStep
  constructor(
    w: Working,
    readonly toolCallId: string,
    readonly suspend: NonNullable<Tool.HandlerContext["suspend"]>,
    readonly decisions: Tool.HandlerContext["decisions"],
    readonly events: Tool.HandlerContext["events"]
  ) {
    this.runId = w.runId
    this.#w = w
    this.#step = w.step
    this.#length = w.messages.length
  }
  get repeatedStep(): number | undefined {
    if (this.#repeated === unknownStep) {
      const w = this.#w
      this.#repeated =
        this.#step === 1 ? undefined : CallKey.repeatedAt((w.callIds ??= CallKey.seenIds(w.droppedCallIds)), w.messages, this.#length, this.#step, this.toolCallId)
    }
    return this.#repeated
  }
  get idempotencyKey(): string {
    return CallKey.idempotencyKey(this.runId, this.toolCallId, this.repeatedStep)
  }
}
