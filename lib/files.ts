/**
 * Files that hold secrets (tokens, keys, credentials): written whole or not at all, and
 * readable by their owner only from the first byte.
 *
 * @module
 */

/** Writes `text` to `path` atomically with mode 0600, creating the directory (0700) if needed. */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
  if (dir) await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const temporary = `${path}.tmp`;
  await Deno.writeTextFile(temporary, text, { mode: 0o600 });
  // The mode above is only for a new file; a leftover temporary keeps its own.
  await Deno.chmod(temporary, 0o600);
  await Deno.rename(temporary, path);
}
