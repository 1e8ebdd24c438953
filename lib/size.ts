/**
 * About how many bytes a value takes once a store serializes it (V8's serializer, as Deno
 * KV does; JSON, as etcd's does), without serializing it: strings by their length (twice
 * that when not ASCII: V8 then keeps two bytes a character), numbers as 9, keys as
 * strings. Batches are cut by this (KV refuses more than 800 KiB a commit, 64 KiB a
 * value); a 10,000-replica service measured each of its 30,000 changes with a
 * `JSON.stringify` before, some 40 MB of strings made only to take their length.
 *
 * @module
 */

const NOT_ASCII = /[\u0080-\uffff]/;

export function serializedSize(value: unknown): number {
  switch (typeof value) {
    case "string":
      return (NOT_ASCII.test(value) ? value.length * 2 : value.length) + 3;
    case "number":
    case "bigint":
      return 9;
    case "boolean":
    case "undefined":
      return 1;
    case "object": {
      if (value === null) return 1;
      let size = 2;
      if (Array.isArray(value)) {
        for (const item of value) size += serializedSize(item) + 1;
        return size;
      }
      for (const key in value) {
        size += key.length + 3 + serializedSize((value as Record<string, unknown>)[key]);
      }
      return size;
    }
    default:
      return 1;
  }
}
