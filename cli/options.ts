import { InvalidArgumentError, Option } from "commander";

/** An option whose value must be a whole number ≥ 0. */
export function intOption(flags: string, description: string): Option {
  return new Option(flags, description).argParser((value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) {
      throw new InvalidArgumentError(`"${value}" is not a whole number`);
    }
    return n;
  });
}

/** Runs `cleanup` once on SIGINT or SIGTERM, then exits. Resolves never. */
export function onShutdown(cleanup: () => Promise<void>): Promise<void> {
  return new Promise(() => {
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      try {
        await cleanup();
      } finally {
        Deno.exit(0);
      }
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
}
