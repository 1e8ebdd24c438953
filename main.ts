/**
 * The `cube` entry point: parses the command line and hands over to `cli/`.
 *
 * @module
 */

import { createProgram } from "./cli/mod.ts";

if (import.meta.main) {
  await createProgram().parseAsync(Deno.args, { from: "user" });
}
