/**
 * A tool's parameters: those of its operation, plus paging for lists; and the handler's own check of them
 * (the loop decoded them already; a direct caller may not have).
 *
 * @internal
 */
import { Result, Schema } from "effect"
import type { Operation } from "../Operations.js"
import { MAX_PAGE_SIZE } from "../Range.js"

/** Lists return one page; `nextRange` fetches the next. */
export const listParameters = {
  max: Schema.optional(
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: MAX_PAGE_SIZE })).annotate({
      description: "How many items (default 100, at most 1000)."
    })
  ),
  range: Schema.optional(
    Schema.String.annotate({ description: "The nextRange of a previous page, to continue." }).check(
      Schema.isMaxLength(500),
      Schema.isPattern(/^[\x20-\x7e]*$/u)
    )
  )
}

export const listResult = (item: Schema.Top) => Schema.Struct({ items: Schema.Array(item), nextRange: Schema.optional(Schema.String) })

/** Each operation's parameters as the handler checks them (the loop decoded them already; a direct caller may not have). */
const parameterDecoders = new WeakMap<Operation, (input: unknown) => Result.Result<Record<string, unknown>, Schema.SchemaError>>()
export const decodeParameters = (operation: Operation) => {
  let decode = parameterDecoders.get(operation)
  if (decode === undefined) {
    const fields = operation.list === undefined ? operation.parameters : { ...operation.parameters, ...listParameters }
    decode = Schema.decodeUnknownResult(Schema.Struct(fields) as unknown as Schema.Codec<Record<string, unknown>, unknown>, {
      errors: "all",
      onExcessProperty: "ignore"
    })
    parameterDecoders.set(operation, decode)
  }
  return decode
}
