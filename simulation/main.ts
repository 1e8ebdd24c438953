/**
 * `deno task simulate [--seeds N] [--first S] [--seed S] [--steps K] [--verbose]`: runs
 * seeded fault simulations and prints each failure with the seed that replays it exactly.
 * `deno task simulate --churn N`: N short tasks over simulated days, to watch memory.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { churn } from "./churn.ts";
import { runSeed } from "./schedule.ts";

const USAGE =
  "usage: deno task simulate [--seeds N] [--first S] [--seed S] [--steps K] [--verbose] | --churn N";

function parse() {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        seeds: { type: "string", default: "100" },
        seed: { type: "string" },
        first: { type: "string", default: "1" },
        steps: { type: "string", default: "60" },
        verbose: { type: "boolean", default: false },
        churn: { type: "string" },
        help: { type: "boolean", default: false },
      },
    }).values;
  } catch (error) {
    console.error(`simulate: ${error instanceof Error ? error.message : error}\n${USAGE}`);
    Deno.exit(2);
  }
}

const values = parse();
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}

function whole(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`simulate: --${name} must be a whole number, not "${text}"`);
    Deno.exit(2);
  }
  return n;
}

if (values.churn !== undefined) {
  const started = performance.now();
  const result = await churn({
    tasks: whole("churn", values.churn),
    batch: 250,
    everyMs: 15 * 60_000,
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${result.tasks} short tasks over ${
      (result.simulatedMs / 86_400_000).toFixed(1)
    } simulated days ` +
      `(retention 30 min) in ${
        seconds.toFixed(1)
      } s: the manager held ${result.largest} tasks at ` +
      `most; GET /tasks lists ${result.listed}; ${result.stored} task records left in the store; ` +
      `${result.violations.length} violations`,
  );
  for (const v of result.violations) console.log(`  ${v}`);
  Deno.exit(result.violations.length > 0 ? 1 : 0);
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
