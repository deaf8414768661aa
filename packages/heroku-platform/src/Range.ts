/**
 * The Heroku `Range` header: how list endpoints page (`206 Partial Content` + `Next-Range`). Pure code.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

export type Order = "asc" | "desc"

export interface RangeSpec {
  /** The sort field, one the endpoint lists in `Accept-Ranges` (usually `id` or `name`). */
  readonly field: string
  /** Start after (exclusive) or at this value. */
  readonly start?: string
  readonly startExclusive?: boolean
  readonly max?: number
  readonly order?: Order
}

/** The page size Heroku allows: at most 1,000 (the default is 200). */
export const MAX_PAGE_SIZE = 1000
export const DEFAULT_PAGE_SIZE = 200

export class InvalidRange extends Schema.TaggedError<InvalidRange>()("InvalidRange", { reason: Schema.String }) {
  override get message(): string {
    return `Invalid Range: ${this.reason}`
  }
}

/** Formats a Range header the way Heroku's own Go client does: `id ..; max=10,order=desc`. */
export const format = (spec: RangeSpec): string => {
  if (spec.max !== undefined && (!Number.isInteger(spec.max) || spec.max < 1 || spec.max > MAX_PAGE_SIZE)) {
    throw new InvalidRange({ reason: `max must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${spec.max}` })
  }
  const start = spec.start === undefined ? "" : `${spec.startExclusive === true ? "]" : ""}${spec.start}`
  const params = [
    ...(spec.max === undefined ? [] : [`max=${spec.max}`]),
    ...(spec.order === undefined ? [] : [`order=${spec.order}`])
  ]
  return `${spec.field} ${start}..${params.length === 0 ? "" : `; ${params.join(",")}`}`
}

export interface ParsedRange {
  readonly field: string
  readonly start: string | undefined
  readonly startExclusive: boolean
  readonly end: string | undefined
  readonly max: number | undefined
  readonly order: Order | undefined
}

/**
 * Parses a Range header leniently: parameters may be separated by `;` or `,`, with or without spaces and
 * a trailing `;` (all forms seen in the wild). Returns `undefined` when it is not a range at all.
 */
export const parse = (header: string): ParsedRange | undefined => {
  const match = /^\s*([A-Za-z_][\w.]*)\s+(\]?)([^;,]*?)\.\.([^;,]*)(.*)$/.exec(header)
  if (match === null) return undefined
  const [, field, exclusive, start, end, rest] = match
  let max: number | undefined
  let order: Order | undefined
  for (const part of rest!.split(/[;,]/)) {
    const [key, value] = part.split("=").map((s) => s.trim())
    if (key === "max" && value !== undefined && /^\d+$/.test(value)) max = Number(value)
    if (key === "order" && (value === "asc" || value === "desc")) order = value
  }
  return {
    field: field!,
    start: start!.trim() === "" ? undefined : start!.trim(),
    startExclusive: exclusive === "]",
    end: end!.trim() === "" ? undefined : end!.trim(),
    max,
    order
  }
}
