/**
 * Runs an incremental decoder (`push` a chunk, `end` the input) over a stream of text chunks.
 *
 * The Stream decoders are one pull stage each (no `mapArray` + `concat` pair, and for bytes no separate
 * UTF-8 stage): each input chunk is decoded in one synchronous call and becomes at most one output chunk,
 * built from the decoder's array as is; nothing is emitted for an input that completes no item (the
 * stage pulls the next input instead).
 *
 * @since 0.1.0
 */
import type { Array as Arr } from "effect"
import { Cause, Effect, Pull, Stream } from "effect"

export interface Decoder<A> {
  push(chunk: string): Array<A>
  end(): Array<A>
}

/** What a stage needs: a chunk in, the items it completed out (the same shape for text and bytes). */
interface Step<I, A> {
  push(input: I): Array<A>
  end(): Array<A>
}

/** A decoder fed UTF-8 bytes (see `utf8`). */
export interface BytesDecoder<A> extends Step<Uint8Array, A> {}

/** Every item an input chunk completes, in one array (the decoder's own when the chunk holds one input). */
const pushChunk = <I, A>(step: Step<I, A>, inputs: Arr.NonEmptyReadonlyArray<I>): Array<A> => {
  if (inputs.length === 1) return step.push(inputs[0])
  // Several reads in one chunk (a body that had more than one buffered): one pass, no iterator.
  const out: Array<A> = []
  for (let r = 0; r < inputs.length; r++) {
    const items = step.push(inputs[r]!)
    for (let i = 0; i < items.length; i++) out.push(items[i]!)
  }
  return out
}

/**
 * One pull stage: pull a chunk, decode it synchronously, emit what it completed (or pull again when it
 * completed nothing); at the end, flush. The upstream's match is built once: a chunk costs no Effect but
 * the `succeed` of its items.
 */
const through =
  <I, A>(make: () => Step<I, A>) =>
  <E, R>(self: Stream.Stream<I, E, R>): Stream.Stream<A, E, R> =>
    Stream.transformPull(self, (upstream: Pull.Pull<Arr.NonEmptyReadonlyArray<I>, E, void>) =>
      Effect.sync(() => {
        const step = make()
        const read: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, void> = Pull.matchEffect(upstream, {
          onSuccess: (inputs) => {
            const out = pushChunk(step, inputs)
            return out.length === 0 ? read : Effect.succeed(out as unknown as Arr.NonEmptyReadonlyArray<A>)
          },
          onFailure: Effect.failCause,
          onDone: () => {
            // Ended: a pull after the flush ends again, without pulling the upstream.
            pull = Cause.done()
            const rest = step.end()
            return rest.length === 0 ? pull : Effect.succeed(rest as unknown as Arr.NonEmptyReadonlyArray<A>)
          }
        })
        let pull = read
        return Effect.suspend(() => pull)
      })
    )

export const decodeWith = <A>(make: () => Decoder<A>): (<E, R>(self: Stream.Stream<string, E, R>) => Stream.Stream<A, E, R>) => through(make)

/** Decodes a whole text at once (for tests and small bodies). */
export const decodeAllWith =
  <A>(make: () => Decoder<A>) =>
  (text: string): Array<A> => {
    const decoder = make()
    return [...decoder.push(text), ...decoder.end()]
  }

/**
 * A decoder fed UTF-8 bytes: a sequence split across chunks is reassembled, and one cut by the end of the
 * stream becomes U+FFFD (never silently dropped). A leading BOM is removed.
 */
export const utf8 = <A>(decoder: Decoder<A>): BytesDecoder<A> => {
  const text = new TextDecoder("utf-8")
  return {
    push: (bytes) => (bytes.length === 0 ? [] : decoder.push(text.decode(bytes, { stream: true }))),
    end: () => {
      const rest = text.decode()
      if (rest.length === 0) return decoder.end()
      const out = decoder.push(rest)
      for (const item of decoder.end()) out.push(item)
      return out
    }
  }
}

/** The identity decoder: text chunks as they are (empty ones dropped). Holds no state: one serves every body. */
export const text: Decoder<string> = {
  push: (chunk) => (chunk.length === 0 ? [] : [chunk]),
  end: () => []
}

/**
 * UTF-8 bytes as text: a sequence split across chunks is reassembled, and one cut by the end of the stream
 * becomes U+FFFD (never silently dropped). A leading BOM is removed.
 */
export const decodeUtf8: <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<string, E, R> = through(() => utf8(text))

/** Decodes a stream of bytes as UTF-8 text (see `decodeUtf8`), then items, in one stage. */
export const decodeBytesWith =
  <A>(make: () => Decoder<A>): (<E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<A, E, R>) =>
    through(() => utf8(make()))
