/**
 * A list of URLs as flags and contexts give them: `https://a:5555,https://b:5555` (several
 * managers) → each URL, trimmed, without a trailing slash; empty entries dropped.
 *
 * @module
 */
export function urlList(list: string): string[] {
  return list.split(",").map((url) => url.trim().replace(/\/$/, "")).filter(Boolean);
}
