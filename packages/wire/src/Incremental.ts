/**
 * Runs an incremental decoder (`push` a chunk, `end` the input) over a stream of text chunks.
 *
 * @since 0.1.0
 */
import { Stream } from "effect"

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
        Stream.mapConcat((chunk) => decoder.push(chunk)),
        Stream.concat(Stream.suspend(() => Stream.fromIterable(decoder.end())))
      )
    })
