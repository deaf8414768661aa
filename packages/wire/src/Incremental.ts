/**
 * Runs an incremental decoder (`push` a chunk, `end` the input) over a stream of text chunks.
 *
 * The Stream decoders are one channel stage each (no `mapChunks` + `concat` pair, and for bytes no separate
 * UTF-8 stage): each input chunk is decoded in one synchronous call and becomes at most one output chunk,
 * built from the decoder's array as is; nothing is emitted for an input that completes no item.
 *
 * @since 0.1.0
 */
import { Channel, Chunk, Stream } from "effect"

export interface Decoder<A> {
  push(chunk: string): Array<A>
  end(): Array<A>
}

/** What a channel stage needs: a chunk in, the items it completed out (the same shape for text and bytes). */
interface Step<I, A> {
  push(input: I): Array<A>
  end(): Array<A>
}

/** A decoder fed UTF-8 bytes (see `utf8`). */
export interface BytesDecoder<A> extends Step<Uint8Array, A> {}

/** Every item an input chunk completes, in one array (the decoder's own when the chunk holds one input). */
const pushChunk = <I, A>(step: Step<I, A>, inputs: Chunk.Chunk<I>): Array<A> => {
  if (inputs.length === 1) return step.push(Chunk.unsafeGet(inputs, 0))
  // Several reads in one chunk (a body that had more than one buffered): one pass, no iterator.
  const reads = Chunk.toReadonlyArray(inputs)
  const out: Array<A> = []
  for (let r = 0; r < reads.length; r++) {
    const items = step.push(reads[r]!)
    for (let i = 0; i < items.length; i++) out.push(items[i]!)
  }
  return out
}

/** One channel stage: read a chunk, decode it synchronously, write what it completed; at the end, flush. */
const stage = <I, A, E>(step: Step<I, A>): Channel.Channel<Chunk.Chunk<A>, Chunk.Chunk<I>, E, E, unknown, unknown> => {
  const loop: Channel.Channel<Chunk.Chunk<A>, Chunk.Chunk<I>, E, E, unknown, unknown> = Channel.readWithCause({
    onInput: (inputs: Chunk.Chunk<I>) => {
      const out = pushChunk(step, inputs)
      return out.length === 0 ? loop : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), loop)
    },
    onFailure: Channel.failCause,
    onDone: () => {
      const rest = step.end()
      return rest.length === 0 ? Channel.void : Channel.write(Chunk.unsafeFromArray(rest))
    }
  })
  return loop
}

const through =
  <I, A>(make: () => Step<I, A>) =>
  <E, R>(self: Stream.Stream<I, E, R>): Stream.Stream<A, E, R> =>
    Stream.pipeThroughChannel(
      self,
      Channel.suspend(() => stage<I, A, E>(make()))
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
