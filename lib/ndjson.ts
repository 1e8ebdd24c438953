/**
 * Reads a stream of newline-delimited JSON (an event stream with `?format=ndjson`, a
 * worker's task changes) one value at a time, as the lines arrive. Leaving the loop early
 * cancels the stream.
 *
 * @module
 */

export async function* ndjson<T>(body: ReadableStream<Uint8Array>): AsyncGenerator<T> {
  let text = "";
  for await (const chunk of body.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    const lines = text.split("\n");
    text = lines.pop()!;
    for (const line of lines) if (line.trim()) yield JSON.parse(line) as T;
  }
}
