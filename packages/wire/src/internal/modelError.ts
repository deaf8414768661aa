/**
 * A `ModelError` like another with some fields changed. Built field by field: spreading an Effect 4 error
 * instance does not copy its `message` or `cause` (they are not enumerable own properties).
 *
 * @internal
 */
import { LanguageModel } from "@agentloop/core"

type Fields = ConstructorParameters<typeof LanguageModel.ModelError>[0]

export const withFields = (error: LanguageModel.ModelError, changes: Partial<Fields>): LanguageModel.ModelError => {
  const fields: { -readonly [K in keyof Fields]: Fields[K] } = { message: error.message, retryable: error.retryable }
  if (error.provider !== undefined) fields.provider = error.provider
  if (error.status !== undefined) fields.status = error.status
  if (error.reason !== undefined) fields.reason = error.reason
  if (error.received !== undefined) fields.received = error.received
  if (error.cause !== undefined) fields.cause = error.cause
  return new LanguageModel.ModelError(Object.assign(fields, changes))
}
