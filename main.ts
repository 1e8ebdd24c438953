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
  try {
    await createProgram().parseAsync(Deno.args, { from: "user" });
  } catch (error) {
    const known = error instanceof CliError || error instanceof CubeError;
    const debug = !known && Deno.env.get("CUBE_DEBUG");
    console.error(`cube: ${debug ? (error as Error)?.stack : (error as Error)?.message ?? error}`);
    Deno.exit(1);
  }
}
