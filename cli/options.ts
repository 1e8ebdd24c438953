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

/** An option whose value must be a positive number of seconds (decimals allowed). */
export function secondsOption(flags: string, description: string): Option {
  return new Option(flags, description).argParser((value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) {
      throw new InvalidArgumentError(`"${value}" is not a positive number of seconds`);
    }
    return n;
  });
}

const DURATION_UNITS: Record<string, number> = { "": 1, s: 1, m: 60, h: 3_600, d: 86_400 };

/** `"90"`, `"90s"`, `"10m"`, `"24h"`, `"7d"` → seconds. */
export function parseDuration(value: string): number {
  const match = value.trim().toLowerCase().match(/^(\d+(?:\.\d+)?)\s*([smhd]?)$/);
  const seconds = match ? Number(match[1]) * DURATION_UNITS[match[2]] : NaN;
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new InvalidArgumentError(
      `"${value}" is not a duration (examples: 90, 90s, 10m, 24h, 7d; plain numbers are seconds)`,
    );
  }
  return seconds;
}

/** An option whose value is a positive duration: seconds, or with a unit (`10m`, `24h`, `7d`). */
export function durationOption(flags: string, description: string): Option {
  return new Option(flags, description).argParser(parseDuration);
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

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** `"256m"`, `"1.5GiB"`, `"1048576"` → bytes (binary units, as Docker's `--memory`). */
export function parseBytes(value: string): number {
  const match = value.trim().toLowerCase().match(/^(\d+(?:\.\d+)?)\s*([a-z]*)$/);
  const unit = match ? UNITS[match[2]] : undefined;
  if (!match || unit === undefined) {
    throw new InvalidArgumentError(`"${value}" is not a size (examples: 512m, 2g, 1073741824)`);
  }
  return Math.round(Number(match[1]) * unit);
}

/** An option whose value is a size in bytes with an optional unit. */
export function bytesOption(flags: string, description: string): Option {
  return new Option(flags, description).argParser(parseBytes);
}

/** An option whose value is a positive number (decimals allowed). */
export function numberOption(flags: string, description: string): Option {
  return new Option(flags, description).argParser((value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) {
      throw new InvalidArgumentError(`"${value}" is not a positive number`);
    }
    return n;
  });
}

/** An option whose value is a number of seconds, 0 or more (decimals allowed). */
export function secondsOrZeroOption(flags: string, description: string): Option {
  return new Option(flags, description).argParser((value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) {
      throw new InvalidArgumentError(`"${value}" is not a number of seconds (0 or more)`);
    }
    return n;
  });
}
