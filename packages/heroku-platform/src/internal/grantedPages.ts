/**
 * Paging a list the grant filters (apps, pipelines under an allow-list) without telling the model anything
 * about the items it hides. Heroku's `Next-Range` names the last item of a page (`name ]prod-app..`), which
 * may be an item outside the grant, so it is never handed on. Instead the handler walks Heroku's pages
 * itself until it holds one granted item more than asked for (or the list ends), and builds the next range
 * from the last granted item it returns. What the model sees (items, whether a next page exists, the range
 * to continue with) depends only on granted items.
 *
 * @internal
 */
import { Effect } from "effect"
import type { Page, Service as Client } from "../HerokuClient.js"
import * as HerokuError from "../HerokuError.js"
import * as Range from "../Range.js"

export interface GrantedPage {
  readonly items: ReadonlyArray<unknown>
  readonly nextRange: string | undefined
  readonly requestId: string | undefined
}

/** Heroku pages read per call at most (1,000 items each) before giving up with `HerokuPagingError`. */
export const MAX_WALK = 50

export interface Options {
  readonly client: Client
  readonly path: string
  readonly template: string
  /** The list's sort field (`name` for apps, `id` for pipelines): unique, so `]value` continues exactly. */
  readonly field: string
  readonly order: Range.Order | undefined
  /** How many granted items the model asked for. */
  readonly max: number | undefined
  /** The model's `range`: one this module handed out, or any range on the same field and order. */
  readonly range: string | undefined
  readonly keep: (item: unknown) => boolean
}

const DEFAULT_MAX = 100

/** Where the walk starts: the beginning, or after (or at) the value the given range names. */
const startOf = (options: Options): Effect.Effect<{ readonly start?: { readonly start: string; readonly startExclusive: boolean }; readonly max?: number }, Range.InvalidRange> => {
  if (options.range === undefined) return Effect.succeed({})
  const parsed = Range.parse(options.range)
  const order = options.order ?? "asc"
  if (parsed === undefined || parsed.field !== options.field || (parsed.order ?? "asc") !== order || parsed.end !== undefined) {
    return Effect.fail(new Range.InvalidRange({ reason: `range must continue this list: "${options.field} ]<value>..", as nextRange gives it` }))
  }
  return Effect.succeed({
    ...(parsed.start === undefined ? {} : { start: { start: parsed.start, startExclusive: parsed.startExclusive } }),
    ...(parsed.max === undefined ? {} : { max: parsed.max })
  })
}

export const page = (options: Options): Effect.Effect<GrantedPage, HerokuError.HerokuError | Range.InvalidRange> =>
  Effect.gen(function* () {
    const from = yield* startOf(options)
    const max = options.max ?? from.max ?? DEFAULT_MAX
    const order = options.order === undefined ? {} : { order: options.order }
    const kept: Array<unknown> = []
    const seen = new Set<string>()
    // Heroku's pages are as large as allowed: the walk costs one request per 1,000 items, whatever `max` is.
    let range: string | Range.RangeSpec = { field: options.field, max: Range.MAX_PAGE_SIZE, ...order, ...from.start }
    let requestId: string | undefined
    for (let walked = 0; ; walked++) {
      if (walked >= MAX_WALK) {
        return yield* new HerokuError.HerokuPagingError({ path: options.path, reason: `more than ${MAX_WALK} pages to walk for one page of granted items` })
      }
      const result: Page = yield* options.client.page(options.path, { range, template: options.template })
      requestId = result.requestId
      for (const item of result.items) if (options.keep(item)) kept.push(item)
      // One granted item beyond the page says whether a next page exists, without looking at hidden ones.
      if (kept.length > max || result.nextRange === undefined) break
      if (seen.has(result.nextRange)) {
        return yield* new HerokuError.HerokuPagingError({ path: options.path, reason: "Next-Range repeats an earlier range" })
      }
      seen.add(result.nextRange)
      range = result.nextRange
    }
    const items = kept.slice(0, max)
    const last = items.at(-1) as Record<string, unknown> | undefined
    const value = last?.[options.field]
    const nextRange =
      kept.length > max && typeof value === "string" ? Range.format({ field: options.field, start: value, startExclusive: true, max, ...order }) : undefined
    return { items, nextRange, requestId }
  })
