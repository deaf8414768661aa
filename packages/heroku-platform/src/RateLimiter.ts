/**
 * A client-side token bucket that mirrors Heroku's per-account pool (4,500 tokens, refilled at 75 per minute),
 * kept in step with the `RateLimit-Remaining` header. Pure functions over an immutable state.
 *
 * Requests in flight are counted: a `RateLimit-Remaining` answer does not yet include the requests other
 * fibers sent after it was computed, so the bucket subtracts every reservation still outstanding. One bucket
 * per client, shared by every agent that uses the client (one account, one pool).
 *
 * @since 0.1.0
 */

export interface Policy {
  readonly capacity: number
  readonly refillPerMinute: number
}

export const herokuPolicy: Policy = { capacity: 4500, refillPerMinute: 75 }

export interface Bucket {
  /** May go below zero: callers that reserved a token ahead of the refill form a queue. */
  readonly tokens: number
  readonly updatedAt: number
  /** Reservations whose response has not arrived yet (waiting or on the wire). */
  readonly inFlight: number
}

export const full = (policy: Policy, now: number): Bucket => ({ tokens: policy.capacity, updatedAt: now, inFlight: 0 })

const perMs = (policy: Policy) => policy.refillPerMinute / 60_000

export const refill = (bucket: Bucket, policy: Policy, now: number): Bucket => {
  const elapsed = Math.max(0, now - bucket.updatedAt)
  return {
    tokens: Math.min(policy.capacity, bucket.tokens + elapsed * perMs(policy)),
    updatedAt: Math.max(now, bucket.updatedAt),
    inFlight: bucket.inFlight
  }
}

/** Reserves one token: how long to wait before sending (0 when a token is there now), and the new bucket. */
export const take = (bucket: Bucket, policy: Policy, now: number): { readonly waitMs: number; readonly bucket: Bucket } => {
  const current = refill(bucket, policy, now)
  const tokens = current.tokens - 1
  return { waitMs: tokens >= 0 ? 0 : Math.ceil(-tokens / perMs(policy)), bucket: { ...current, tokens, inFlight: current.inFlight + 1 } }
}

/**
 * A reservation ended (its response arrived, or the request failed): with `remaining`, trust the server for
 * the pool, minus every reservation still outstanding; without it, keep the estimate.
 */
export const settle = (bucket: Bucket, policy: Policy, remaining: number | undefined, now: number): Bucket => {
  const current = refill(bucket, policy, now)
  const inFlight = Math.max(0, current.inFlight - 1)
  if (remaining === undefined) return { ...current, inFlight }
  return { tokens: Math.min(policy.capacity, remaining) - inFlight, updatedAt: now, inFlight }
}

/** A reservation given back unused (its caller was interrupted before the request left). */
export const release = (bucket: Bucket, policy: Policy, now: number): Bucket => {
  const current = refill(bucket, policy, now)
  return { tokens: Math.min(policy.capacity, current.tokens + 1), updatedAt: current.updatedAt, inFlight: Math.max(0, current.inFlight - 1) }
}

/** The server said the pool is empty (a 429): nothing is left, beyond what the outstanding reservations owe. */
export const exhausted = (bucket: Bucket, policy: Policy, now: number): Bucket => {
  const current = refill(bucket, policy, now)
  return { ...current, tokens: Math.min(current.tokens, 0) }
}

/** How long until one token is available again, after the server said the pool is empty. */
export const waitForOne = (policy: Policy): number => Math.ceil(1 / perMs(policy))
