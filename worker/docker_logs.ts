/**
 * Docker multiplexes a non-TTY container's stdout and stderr into frames: an 8-byte
 * header (stream type, 3 zero bytes, big-endian payload size) and the payload. This
 * turns such a byte stream back into the plain text the container printed.
 *
 * @module
 */

export async function* demultiplex(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
): AsyncGenerator<Uint8Array> {
  let buffer = new Uint8Array(0);
  for await (const piece of source) {
    const chunk = typeof piece === "string" ? new TextEncoder().encode(piece) : piece;
    const joined = new Uint8Array(buffer.length + chunk.length);
    joined.set(buffer);
    joined.set(chunk, buffer.length);
    buffer = joined;
    let offset = 0;
    while (buffer.length - offset >= 8) {
      const size = new DataView(buffer.buffer, buffer.byteOffset + offset + 4, 4).getUint32(0);
      if (buffer.length - offset - 8 < size) break;
      yield buffer.slice(offset + 8, offset + 8 + size);
      offset += 8 + size;
    }
    buffer = buffer.slice(offset);
  }
}
