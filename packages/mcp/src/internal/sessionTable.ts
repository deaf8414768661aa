/**
 * The open Streamable HTTP sessions of one server: the cap, idle expiry, eviction when full, and the
 * identity each session belongs to. Every operation is synchronous, so the check and the reservation of a
 * slot cannot be split by another request: concurrent (slow) `initialize` requests never open more than
 * `max` sessions.
 *
 * A session is busy while one of its HTTP responses is open (a call in flight, a client's stream); it is idle
 * otherwise. An idle session is closed after `idleMs`, and the least recently used idle one is closed when
 * a new session needs its slot, so clients that go away without `DELETE` cannot lock others out.
 */
export interface Entry<S> {
  readonly id: string
  /** Which of the server's tokens opened it: only that token may use it. */
  readonly identity: number
  readonly value: S
  /** Open HTTP responses. */
  active: number
  lastUsed: number
  timer: ReturnType<typeof setTimeout> | undefined
}

/** A slot held for a session being initialized: `commit` turns it into the session, `release` gives it back. */
export interface Reservation<S> {
  readonly commit: (id: string, identity: number, value: S) => Entry<S>
  /** Gives the slot back unless committed (safe to call in any case). */
  readonly release: () => void
}

export interface SessionTable<S> {
  /** A slot for a new session, evicting the least recently used idle session when full; undefined when every session is busy. */
  readonly reserve: () => Reservation<S> | undefined
  /** The session with this id, if it is open and belongs to `identity`. */
  readonly get: (id: string, identity: number) => Entry<S> | undefined
  /** A request of the session starts; `end` when its response has closed. */
  readonly begin: (entry: Entry<S>) => void
  readonly end: (entry: Entry<S>) => void
  /** Forgets a session (it closed); idempotent. */
  readonly remove: (id: string) => void
  readonly size: () => number
  readonly values: () => ReadonlyArray<S>
  /** Forgets every session and stops the timers (the server is shutting down). */
  readonly clear: () => void
}

export const make = <S>(options: {
  readonly max: number
  readonly idleMs: number
  /** Closes a session the table dropped (expired or evicted); its `remove` follows, or not: both are fine. */
  readonly close: (value: S) => void
  readonly now?: () => number
}): SessionTable<S> => {
  const now = options.now ?? Date.now
  const entries = new Map<string, Entry<S>>()
  let reserved = 0

  const drop = (entry: Entry<S>) => {
    if (entries.get(entry.id) !== entry) return
    entries.delete(entry.id)
    clearTimeout(entry.timer)
    options.close(entry.value)
  }

  const leastRecentlyUsedIdle = (): Entry<S> | undefined => {
    let oldest: Entry<S> | undefined
    for (const entry of entries.values()) {
      if (entry.active === 0 && (oldest === undefined || entry.lastUsed < oldest.lastUsed)) oldest = entry
    }
    return oldest
  }

  const reserve = (): Reservation<S> | undefined => {
    if (entries.size + reserved >= options.max) {
      const idle = leastRecentlyUsedIdle()
      if (idle === undefined) return undefined
      drop(idle)
    }
    reserved++
    let held = true
    const release = () => {
      if (held) {
        held = false
        reserved--
      }
    }
    return {
      release,
      commit: (id, identity, value) => {
        release()
        const entry: Entry<S> = { id, identity, value, active: 0, lastUsed: now(), timer: undefined }
        entries.set(id, entry)
        return entry
      }
    }
  }

  const begin = (entry: Entry<S>) => {
    entry.active++
    entry.lastUsed = now()
    clearTimeout(entry.timer)
    entry.timer = undefined
  }

  const end = (entry: Entry<S>) => {
    entry.active--
    entry.lastUsed = now()
    if (entry.active === 0 && entries.get(entry.id) === entry) {
      entry.timer = setTimeout(() => drop(entry), options.idleMs)
      // An idle session must not keep the process alive.
      entry.timer.unref?.()
    }
  }

  return {
    reserve,
    get: (id, identity) => {
      const entry = entries.get(id)
      return entry !== undefined && entry.identity === identity ? entry : undefined
    },
    begin,
    end,
    remove: (id) => {
      const entry = entries.get(id)
      if (entry === undefined) return
      entries.delete(id)
      clearTimeout(entry.timer)
    },
    size: () => entries.size,
    values: () => [...entries.values()].map((entry) => entry.value),
    clear: () => {
      for (const entry of entries.values()) clearTimeout(entry.timer)
      entries.clear()
    }
  }
}
