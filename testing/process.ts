import { waitFor } from "./wait.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

export interface CubeProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** kill -9, then wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM, then wait for the exit. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Runs `deno run -A main.ts ...args` as a real process, collecting its output. */
export function spawnCube(args: string[], env: Record<string, string> = {}): CubeProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env,
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

/** Waits until `url/health` answers 200. */
export function waitForHealth(url: string, process?: CubeProcess): Promise<true> {
  return waitFor(
    `${url}/health to answer${process ? ` (output: ${process.output()})` : ""}`,
    async () => {
      const response = await fetch(`${url}/health`);
      await response.body?.cancel();
      return response.ok;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}
