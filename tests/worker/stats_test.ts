import assert from "node:assert/strict";
import { cpuUsage, foldUsage, readCpuStat, StatsCollector } from "../../worker/stats.ts";

const TAU = 10_000;

Deno.test("a one-second spike on an idle node moves its CPU usage by a tenth at most", () => {
  const after = foldUsage(0, 1, 1_000, TAU);
  assert.ok(after > 0.05 && after < 0.1, `usage ${after}`);
});

Deno.test("lasting load shows fully in the CPU usage within half a minute", () => {
  let usage = 0;
  for (let s = 0; s < 30; s++) usage = foldUsage(usage, 0.8, 1_000, TAU);
  assert.ok(usage > 0.76 && usage <= 0.8, `usage ${usage}`);
});

Deno.test("the CPU usage is the same whether read every second or once a minute", () => {
  let often = 0.2;
  for (let s = 0; s < 60; s++) often = foldUsage(often, 0.6, 1_000, TAU);
  const rarely = foldUsage(0.2, 0.6, 60_000, TAU);
  assert.ok(Math.abs(often - rarely) < 1e-9, `${often} vs ${rarely}`);
});

Deno.test("two collectors on one machine read nearly the same usage at different moments", async () => {
  // Workers sharing a machine: the figures E-PVM compares must not differ by the moment
  // each was read. A burst of CPU between their readings.
  const a = new StatsCollector({ minIntervalMs: 50 });
  const b = new StatsCollector({ minIntervalMs: 50 });
  await a.read(0);
  await b.read(0);
  const busyUntil = performance.now() + 300;
  const before = await readCpuStat();
  while (performance.now() < busyUntil) { /* burn */ }
  const burst = cpuUsage(before, await readCpuStat());
  const first = (await a.read(0)).CpuUsage;
  await new Promise((r) => setTimeout(r, 300));
  const second = (await b.read(0)).CpuUsage;
  const cores = navigator.hardwareConcurrency;
  assert.ok(burst * cores > 0.6, `the burst kept a core busy: ${burst} of ${cores} cores`);
  assert.ok(Math.abs(first - second) < burst / 5, `${first} vs ${second} after ${burst}`);
  assert.ok(first < burst / 5, `a burst moves the average a little: ${first} of ${burst}`);
});
