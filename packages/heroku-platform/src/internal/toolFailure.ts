/**
 * What a tool call's failure looks like to the model, and how a Heroku error becomes one.
 *
 * @internal
 */
import { Schema } from "effect"
import type { HerokuError } from "../HerokuError.js"
import type { InvalidRange } from "../Range.js"
import * as Redaction from "../Redaction.js"

/** What the model sees when a call fails: Heroku's own id and message, and the Request-Id for support. */
export const ToolFailure = Schema.Struct({
  error: Schema.String,
  message: Schema.String,
  status: Schema.optional(Schema.Number),
  id: Schema.optional(Schema.String),
  requestId: Schema.optional(Schema.String)
})
export type ToolFailure = typeof ToolFailure.Type

export const failure = (error: string, message: string, extra: Partial<ToolFailure> = {}): ToolFailure => ({ error, message, ...extra })

/**
 * A Heroku error as the model sees it, scrubbed of `secrets`.
 *
 * @internal
 */
export const fromHerokuError = (error: HerokuError | InvalidRange, secrets: Redaction.Known): ToolFailure =>
  "status" in error
    ? failure(error._tag, Redaction.text(error.message, secrets), {
        status: error.status,
        id: error.id,
        ...(error.requestId === undefined ? {} : { requestId: error.requestId })
      })
    : failure(error._tag, Redaction.text(error.message, secrets), "requestId" in error && error.requestId !== undefined ? { requestId: error.requestId } : {})
