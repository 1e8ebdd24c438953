/**
 * `deno task simulate [--seeds N] [--seed S] [--steps K] [--verbose]`: runs seeded
 * fault simulations and prints each failure with the seed that replays it exactly.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runSeed } from "./schedule.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seeds: { type: "string", default: "100" },
    seed: { type: "string" },
    first: { type: "string", default: "1" },
    steps: { type: "string", default: "60" },
    verbose: { type: "boolean", default: false },
  },
});

function whole(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`simulate: --${name} must be a whole number, not "${text}"`);
    Deno.exit(2);
  }
  return n;
}

const steps = whole("steps", values.steps);
const seeds = values.seed !== undefined ? [whole("seed", values.seed)] : Array.from(
  { length: whole("seeds", values.seeds) },
  (_, i) => whole("first", values.first) + i,
);
const started = performance.now();
let failed = 0;
let simulated = 0;
let changes = 0;
for (const seed of seeds) {
  const lines: string[] = [];
  const result = await runSeed({
    seed,
    steps,
    log: (line) => values.verbose ? console.log(line) : lines.push(line),
  });
  simulated += result.simulatedMs;
  if (seeds.length === 1) console.log(`seed ${seed}: fingerprint ${result.fingerprint}`);
  changes += result.changes;
  if (result.violations.length > 0) {
    failed++;
    console.log(`seed ${seed}: ${result.violations.length} violation(s)`);
    for (const v of result.violations) console.log(`  ${v}`);
    console.log(`  replay: deno task simulate --seed ${seed} --steps ${steps} --verbose`);
  }
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `${seeds.length} seeds, ${failed} failed, ${steps} steps each; ${
    (simulated / 3_600_000).toFixed(1)
  } h simulated, ${changes} task changes checked, in ${seconds.toFixed(1)} s`,
);
Deno.exit(failed > 0 ? 1 : 0);
