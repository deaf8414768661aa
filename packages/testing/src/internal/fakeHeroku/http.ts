/**
 * The HTTP vocabulary of `FakeHerokuPlatform`: Heroku's error shape and a route.
 *
 * @internal
 */
import type { Fault, OAuthScope } from "../../FakeHerokuPlatform.js"

export type Json = Record<string, any>

export const ERROR_URL = "https://devcenter.heroku.com/articles/platform-api-reference"

export class HttpError {
  constructor(
    readonly status: number,
    readonly id: string,
    readonly message: string
  ) {}
}

export const notFound = (what: string) => new HttpError(404, "not_found", `Couldn't find that ${what}.`)
export const invalid = (message: string) => new HttpError(422, "invalid_params", message)

export interface Route {
  readonly method: string
  readonly pattern: RegExp
  readonly scope: OAuthScope
  /** A list endpoint: the fields it can be ranged by. */
  readonly ranges?: ReadonlyArray<string>
  readonly handle: (match: ReadonlyArray<string>, body: Json) => { status?: number; body: unknown }
}


/**
 * The first queued fault that matches this request, used up once (removed when its `times` are spent), after
 * its delay: what both Heroku fakes do before answering.
 */
export const takeFault = async (faults: Array<Fault>, method: string, path: string): Promise<Fault | undefined> => {
  const fault = faults.find((f) => (f.method === undefined || f.method === method) && (f.path === undefined || f.path.test(path)))
  if (fault === undefined) return undefined
  fault.times = (fault.times ?? 1) - 1
  if (fault.times <= 0) faults.splice(faults.indexOf(fault), 1)
  if (fault.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, fault.delayMs))
  return fault
}
