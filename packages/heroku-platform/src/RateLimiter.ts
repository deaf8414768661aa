/**
 * A client-side token bucket that mirrors Heroku's per-account pool (4,500 tokens, refilled at 75 per minute),
 * kept in step with the `RateLimit-Remaining` header. Pure functions over an immutable state.
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
}

export const full = (policy: Policy, now: number): Bucket => ({ tokens: policy.capacity, updatedAt: now })

const perMs = (policy: Policy) => policy.refillPerMinute / 60_000

export const refill = (bucket: Bucket, policy: Policy, now: number): Bucket => {
  const elapsed = Math.max(0, now - bucket.updatedAt)
  return { tokens: Math.min(policy.capacity, bucket.tokens + elapsed * perMs(policy)), updatedAt: Math.max(now, bucket.updatedAt) }
}

/** Reserves one token: how long to wait before sending (0 when a token is there now), and the new bucket. */
export const take = (bucket: Bucket, policy: Policy, now: number): { readonly waitMs: number; readonly bucket: Bucket } => {
  const current = refill(bucket, policy, now)
  const tokens = current.tokens - 1
  return { waitMs: tokens >= 0 ? 0 : Math.ceil(-tokens / perMs(policy)), bucket: { ...current, tokens } }
}

/** Trusts the server: after a response, the pool holds what `RateLimit-Remaining` says (minus queued reservations). */
export const sync = (bucket: Bucket, policy: Policy, remaining: number, now: number): Bucket => {
  const current = refill(bucket, policy, now)
  const queued = Math.min(0, current.tokens)
  return { tokens: Math.min(policy.capacity, remaining) + queued, updatedAt: now }
}

/** How long until one token is available again, after the server said the pool is empty. */
export const waitForOne = (policy: Policy): number => Math.ceil(1 / perMs(policy))
