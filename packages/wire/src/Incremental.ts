/**
 * Runs an incremental decoder (`push` a chunk, `end` the input) over a stream of text chunks.
 *
 * @since 0.1.0
 */
import { Chunk, Stream } from "effect"

export interface Decoder<A> {
  push(chunk: string): Array<A>
  end(): Array<A>
}

export const decodeWith =
  <A>(make: () => Decoder<A>) =>
  <E, R>(self: Stream.Stream<string, E, R>): Stream.Stream<A, E, R> =>
    Stream.suspend(() => {
      const decoder = make()
      return self.pipe(
        // A whole chunk of input at a time: one output chunk per input chunk, no per-element flattening.
        Stream.mapChunks((inputs) => {
          if (inputs.length === 1) return Chunk.unsafeFromArray(decoder.push(Chunk.unsafeGet(inputs, 0)))
          const out: Array<A> = []
          for (const input of inputs) for (const item of decoder.push(input)) out.push(item)
          return Chunk.unsafeFromArray(out)
        }),
        Stream.concat(Stream.suspend(() => Stream.fromIterable(decoder.end())))
      )
    })

/** Decodes a whole text at once (for tests and small bodies). */
export const decodeAllWith =
  <A>(make: () => Decoder<A>) =>
  (text: string): Array<A> => {
    const decoder = make()
    return [...decoder.push(text), ...decoder.end()]
  }

/**
 * UTF-8 bytes as text: a sequence split across chunks is reassembled, and one cut by the end of the stream
 * becomes U+FFFD (never silently dropped). A leading BOM is removed.
 */
export const decodeUtf8 = <E, R>(self: Stream.Stream<Uint8Array, E, R>): Stream.Stream<string, E, R> =>
  Stream.suspend(() => {
    const decoder = new TextDecoder("utf-8")
    return self.pipe(
      Stream.mapChunks((chunks) => Chunk.map(chunks, (bytes) => decoder.decode(bytes, { stream: true }))),
      Stream.concat(
        Stream.suspend(() => {
          const rest = decoder.decode()
          return rest.length === 0 ? Stream.empty : Stream.succeed(rest)
        })
      )
    )
  })

/** Decodes a stream of bytes as UTF-8 text (see `decodeUtf8`), then items. */
export const decodeBytesWith = <A>(make: () => Decoder<A>) => {
  const decode = decodeWith(make)
  return <E, R>(self: Stream.Stream<Uint8Array, E, R>): Stream.Stream<A, E, R> => decode(decodeUtf8(self))
}
