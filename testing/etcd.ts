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
  /** kill -9 of member `i` (0..2). */
  kill(i: number): Promise<void>;
  /** Starts member `i` again on its data. */
  restart(i: number): Promise<void>;
  /** The member that is etcd's raft leader now. */
  leader(): Promise<number>;
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
  const cluster = decoder.decode(out.stdout).trim();
  const url = `${cluster}/test-${crypto.randomUUID().slice(0, 8)}`;
  const pid = async (i: number) => Number(await Deno.readTextFile(`${dir.path}/m${i}.pid`));
  return {
    url,
    async kill(i) {
      const member = await pid(i);
      Deno.kill(member, "SIGKILL");
      // Gone, or a zombie nobody reaps: dead either way.
      for (let n = 0; n < 100; n++) {
        const stat = await new Deno.Command("ps", { args: ["-o", "stat=", "-p", String(member)] })
          .output();
        const state = decoder.decode(stat.stdout).trim();
        if (state === "" || state.startsWith("Z")) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async restart(i) {
      const done = await new Deno.Command("bash", {
        args: [SCRIPT, "restart", dir.path, String(i)],
      }).output();
      if (done.code !== 0) throw new Error(`etcd member ${i}: ${decoder.decode(done.stderr)}`);
    },
    async leader() {
      const endpoints = cluster.replace("etcd://", "");
      const status = await new Deno.Command("etcdctl", {
        args: ["--endpoints", endpoints, "endpoint", "status", "-w", "json"],
        env: { ETCDCTL_API: "3" },
      }).output();
      // The IDs are 64-bit: compared as text, never as JS numbers.
      const text = decoder.decode(status.stdout);
      const leader = text.match(/"leader":(\d+)/)?.[1];
      for (
        const m of text.matchAll(
          /"Endpoint":"([^"]+)","Status":\{"header":\{[^}]*"member_id":(\d+)/g,
        )
      ) {
        if (m[2] === leader) return endpoints.split(",").indexOf(m[1]);
      }
      throw new Error(`no etcd leader in: ${text}`);
    },
    async [Symbol.asyncDispose]() {
      await new Deno.Command("bash", { args: [SCRIPT, "stop", dir.path] }).output();
      await dir[Symbol.asyncDispose]();
    },
  };
}
