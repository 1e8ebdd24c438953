import { request, trust, waitFor } from "./wait.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/**
 * The V8 flags cube runs with, as `deno task cube`, `scripts/run.sh`, the compiled binary and
 * the installed shim start it (tests/cli/launch_test.ts holds them to it): young generation
 * of 8 MiB semi-spaces and an old generation grown by 40% at a time, not up to 4x: the
 * manager of a 10,000-replica service peaked at 300 MiB without, about 220 MiB with them.
 */
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=8,--heap-growing-percent=40";

export interface CubeProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** kill -9, then wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM, then wait for the exit. */
  stop(): Promise<Deno.CommandStatus>;
}

/**
 * Runs `deno run -A main.ts ...args` as a real process, collecting its output. Its CLI
 * config (contexts) lives in a directory of its own unless `env.XDG_CONFIG_HOME` says
 * where: a test never reads or writes the user's.
 */
export function spawnCube(args: string[], env: Record<string, string> = {}): CubeProcess {
  const config = env.XDG_CONFIG_HOME ? null : Deno.makeTempDirSync({ prefix: "cube-xdg-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", V8_FLAGS, MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: config ? { ...env, XDG_CONFIG_HOME: config } : env,
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited: Promise<Deno.CommandStatus> | null = null;
  const finish = async (signal: Deno.Signal) => {
    if (!exited) {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      exited = child.status;
    }
    const status = await exited;
    await drained;
    if (config) await Deno.remove(config, { recursive: true }).catch(() => {});
    return status;
  };
  return {
    child,
    output: () => text,
    kill: async () => void await finish("SIGKILL"),
    stop: () => finish("SIGTERM"),
    [Symbol.asyncDispose]: async () => void await finish("SIGKILL"),
  };
}

/** Waits until `url/health` answers 200 (an https URL: once `trust`ed, see `trustManagerDir`). */
export function waitForHealth(url: string, process?: CubeProcess): Promise<true> {
  return waitFor(
    `${url}/health to answer${process ? ` (output: ${process.output()})` : ""}`,
    async () => (await request(`${url}/health`)).status === 200,
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

/**
 * Once a manager process has written its CA and admin token into `dir`: `request` trusts
 * that CA for `url` and sends that token, until disposed.
 */
export async function trustManagerDir(
  url: string,
  dir: string,
  process?: CubeProcess,
): Promise<Disposable & { caPem: string; adminToken: string }> {
  const files = await waitFor(
    `the manager to write ${dir}/ca.pem and admin.token${
      process ? ` (output: ${process.output()})` : ""
    }`,
    async () => {
      try {
        const caPem = await Deno.readTextFile(`${dir}/ca.pem`);
        const adminToken = (await Deno.readTextFile(`${dir}/admin.token`)).trim();
        return caPem.includes("END CERTIFICATE") && adminToken ? { caPem, adminToken } : undefined;
      } catch {
        return undefined;
      }
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  return Object.assign(trust(url, { caPem: files.caPem, token: files.adminToken }), files);
}
