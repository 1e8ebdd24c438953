/**
 * The `cube` entry point: parses the command line and hands over to `cli/`. Failures
 * become one line on stderr and exit code 1, never a stack trace.
 *
 * @module
 */

import { createProgram } from "./cli/mod.ts";
import { CliError } from "./cli/client.ts";
import { CubeError } from "./lib/errors.ts";

if (import.meta.main) {
  // The last line of defence for a long-running manager or worker: a rejection nothing
  // handled is logged and the process goes on. (Tests and the seeded simulation treat one
  // as a failure; this only keeps a bug from taking a cluster's control plane down.)
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    console.error("cube: unhandled rejection (kept running):", event.reason);
  });
  try {
    await createProgram().parseAsync(Deno.args, { from: "user" });
  } catch (error) {
    const known = error instanceof CliError || error instanceof CubeError;
    const debug = !known && Deno.env.get("CUBE_DEBUG");
    console.error(`cube: ${debug ? (error as Error)?.stack : (error as Error)?.message ?? error}`);
    Deno.exit(1);
  }
}
