/**
 * A 3-member etcd cluster on loopback for a test, started by the project's own script
 * (scripts/etcd.sh, which installs etcd when it is missing), on free ports, in a temp dir.
 * Disposing it stops the members and removes their data.
 */
import { tempDir } from "./wait.ts";

const SCRIPT = new URL("../scripts/etcd.sh", import.meta.url).pathname;

export interface TestEtcd extends AsyncDisposable {
  /** The store URL: `etcd://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`, with a fresh prefix. */
  url: string;
}

/** A base port whose client ports (base..base+2) and peer ports (base+100..) are free. */
function freeBase(): number {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const ports = [0, 1, 2, 100, 101, 102].map((i) => base + i);
    const listeners: Deno.Listener[] = [];
    try {
      for (const port of ports) listeners.push(Deno.listen({ hostname: "127.0.0.1", port }));
      return base;
    } catch {
      // taken: another base
    } finally {
      for (const l of listeners) l.close();
    }
  }
  throw new Error("no free ports for etcd");
}

export async function startEtcd(): Promise<TestEtcd> {
  const dir = await tempDir();
  const out = await new Deno.Command("bash", {
    args: [SCRIPT, "start", dir.path, String(freeBase())],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (out.code !== 0) {
    await dir[Symbol.asyncDispose]();
    throw new Error(`etcd did not start: ${decoder.decode(out.stderr)}`);
  }
  const url = `${decoder.decode(out.stdout).trim()}/test-${crypto.randomUUID().slice(0, 8)}`;
  return {
    url,
    async [Symbol.asyncDispose]() {
      await new Deno.Command("bash", { args: [SCRIPT, "stop", dir.path] }).output();
      await dir[Symbol.asyncDispose]();
    },
  };
}
