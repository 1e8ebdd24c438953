/**
 * Splits items into JSON arrays of at most `maxBytes` each (an item larger than that alone
 * gets an array of its own), stringifying each item once: the worker's reports to its
 * manager and the manager's batches of tasks to a worker are cut this way.
 *
 * @module
 */

export function jsonBatches<T>(
  items: readonly T[],
  maxBytes: number,
  /** What goes on the wire for an item; the item itself by default. */
  wire: (item: T) => unknown = (item) => item,
): { items: T[]; body: string }[] {
  const batches: { items: T[]; body: string }[] = [];
  let current: T[] = [];
  let parts: string[] = [];
  let bytes = 2;
  for (const item of items) {
    const json = JSON.stringify(wire(item));
    if (current.length > 0 && bytes + json.length + 1 > maxBytes) {
      batches.push({ items: current, body: `[${parts.join(",")}]` });
      [current, parts, bytes] = [[], [], 2];
    }
    current.push(item);
    parts.push(json);
    bytes += json.length + 1;
  }
  if (current.length > 0) batches.push({ items: current, body: `[${parts.join(",")}]` });
  return batches;
}
