/**
 * Heroku's `Range` paging of list endpoints: `<field> [start]..[end][; max=<n>, order=<asc|desc>]`, answered
 * with `Content-Range`, and `206` with `Next-Range` while more remain.
 *
 * @internal
 */
import { HttpError, type Json } from "./http.js"

/** One page of `items` as the Range header asks (all fields in `allowed`), or a 416. */
export const page = (items: ReadonlyArray<Json>, rangeHeader: string | undefined, allowed: ReadonlyArray<string>) => {
  const match = rangeHeader === undefined ? null : /^\s*(\w+)\s+(\]?)([^;,]*?)\.\.([^;,]*)(.*)$/.exec(rangeHeader)
  if (rangeHeader !== undefined && match === null) throw new HttpError(416, "requested_range_not_satisfiable", "Invalid Range header.")
  const field = match?.[1] ?? "id"
  if (!allowed.includes(field)) throw new HttpError(416, "requested_range_not_satisfiable", `Invalid range: ${field} is not one of ${allowed.join(", ")}.`)
  const params = Object.fromEntries((match?.[5] ?? "").split(/[;,]/).map((p) => p.split("=").map((s) => s.trim())).filter((p) => p.length === 2))
  const max = params["max"] === undefined ? 200 : Number(params["max"])
  if (!Number.isInteger(max) || max < 1 || max > 1000) throw new HttpError(416, "requested_range_not_satisfiable", "max must be between 1 and 1000.")
  const order = params["order"] === "desc" ? "desc" : "asc"
  const value = (item: Json) => (field === "email" ? item["user"]?.["email"] : item[field])
  const compare = (x: unknown, y: unknown) =>
    typeof x === "number" && typeof y === "number" ? x - y : String(x) < String(y) ? -1 : String(x) > String(y) ? 1 : 0
  let sorted = [...items].sort((x, y) => (order === "asc" ? compare(value(x), value(y)) : compare(value(y), value(x))))
  const start = match?.[3]?.trim()
  if (start) {
    const exclusive = match?.[2] === "]"
    const startValue: unknown = typeof value(sorted[0] ?? {}) === "number" ? Number(start) : start
    sorted = sorted.filter((item) => {
      const c = order === "asc" ? compare(value(item), startValue) : compare(startValue, value(item))
      return exclusive ? c > 0 : c >= 0
    })
  }
  const slice = sorted.slice(0, max)
  const headers: Record<string, string> = { "Accept-Ranges": allowed.join(", ") }
  if (slice.length > 0) headers["Content-Range"] = `${field} ${value(slice[0]!)}..${value(slice[slice.length - 1]!)}; max=${max}`
  if (sorted.length > max) {
    headers["Next-Range"] = `${field} ]${value(slice[slice.length - 1]!)}..; max=${max}${order === "desc" ? ", order=desc" : ""}`
    return { status: 206, body: slice, headers }
  }
  return { status: 200, body: slice, headers }
}
