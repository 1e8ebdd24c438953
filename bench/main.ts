/**
 * `deno task bench`: runs the scenarios and prints a table of figures and ratios for
 * each. `--quick` runs every scenario at a small size (CI runs it so the benchmarks
 * cannot rot; it asserts nothing about timings). See bench/README.md.
 *
 *   deno task bench                      # everything, full size (about 3 minutes)
 *   deno task bench --quick              # everything, small
 *   deno task bench --only scale,api     # some scenarios
 *   deno task bench --n 50,200           # scenario 1 sizes
 *   deno task bench --nodes 1000 --tasks 10000
 *
 * @module
 */

import { parseArgs } from "node:util";
import { formatSection, type Section } from "./report.ts";
import { apiThroughput } from "./scenarios/api.ts";
import { healing } from "./scenarios/healing.ts";
import { scale } from "./scenarios/scale.ts";
import { schedulerThroughput } from "./scenarios/scheduler.ts";
import { securityCost } from "./scenarios/security.ts";
import { services } from "./scenarios/services.ts";
import { managers } from "./scenarios/managers.ts";
import { submitToRunning } from "./scenarios/submit.ts";

const SCENARIOS = [
  "submit",
  "healing",
  "scheduler",
  "scale",
  "api",
  "security",
  "services",
  "managers",
] as const;
type Scenario = typeof SCENARIOS[number];

function fail(message: string): never {
  console.error(`bench: ${message}`);
  Deno.exit(2);
}

function positiveInts(flag: string, text: string): number[] {
  const values = text.split(",").map(Number);
  if (values.some((n) => !Number.isInteger(n) || n <= 0)) {
    fail(`--${flag} takes positive whole numbers (comma-separated), got "${text}"`);
  }
  return values;
}

const { values } = (() => {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        quick: { type: "boolean", default: false },
        only: { type: "string" },
        n: { type: "string" },
        nodes: { type: "string" },
        tasks: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    fail((error as Error).message);
  }
})();

if (values.help) {
  console.log(
    "usage: deno task bench [--quick] [--only " + SCENARIOS.join(",") +
      "] [--n 50,200] [--nodes 1000] [--tasks 10000]",
  );
  Deno.exit(0);
}

const quick = values.quick;
const only = values.only?.split(",") ?? [...SCENARIOS];
for (const name of only) {
  if (!SCENARIOS.includes(name as Scenario)) {
    fail(`unknown scenario "${name}" (expected: ${SCENARIOS.join(", ")})`);
  }
}
const sizes = values.n ? positiveInts("n", values.n) : quick ? [5] : [20, 50, 200];
const nodes = values.nodes ? positiveInts("nodes", values.nodes)[0] : quick ? 50 : 1_000;
const tasks = values.tasks ? positiveInts("tasks", values.tasks)[0] : quick ? 500 : 10_000;

const runs: Record<Scenario, () => Promise<Section[]>> = {
  submit: async () => [await submitToRunning({ sizes })],
  healing: async () => [await healing({ quick })],
  scheduler: () => Promise.resolve([schedulerThroughput({ quick })]),
  scale: async () => {
    const sections = [await scale({ nodes, tasks })];
    // V8 collects lazily on a big machine: the same run with a heap cap shows how much
    // of the RSS is live data and how much is garbage not yet collected.
    if (!quick) sections.push(await scale({ nodes, tasks, v8Flags: "--max-old-space-size=160" }));
    return sections;
  },
  api: async () => [await apiThroughput({ quick })],
  security: async () => [await securityCost({ quick })],
  services: async () => [await services({ quick, nodes, replicas: tasks })],
  managers: async () => [await managers({ quick, nodes, replicas: tasks })],
};

const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
  .match(/^model name\s*:\s*(.*)$/m)?.[1] ?? "unknown CPU";
console.log(
  `cube benchmarks${quick ? " (quick)" : ""}: ${navigator.hardwareConcurrency} cores, ${cpu}, ` +
    `${(Deno.systemMemoryInfo().total / 1024 ** 3).toFixed(1)} GiB, Deno ${Deno.version.deno}, ` +
    new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC\n",
);
let failed = false;
for (const name of SCENARIOS.filter((s) => only.includes(s))) {
  try {
    for (const section of await runs[name]()) console.log(formatSection(section));
  } catch (error) {
    failed = true;
    console.log(`== ${name}: FAILED: ${(error as Error).stack ?? error}\n`);
  }
}
if (failed) Deno.exit(1);
