/**
 * The seeded fault simulation: a few hundred seeds run clean, a seed replays exactly,
 * and the checks catch what they are there to catch (each is shown a planted fault).
 */
import assert from "node:assert/strict";
import { runSeed } from "../../simulation/schedule.ts";
import { State } from "../../task/mod.ts";
import { startSimCluster } from "../../testing/sim_cluster.ts";

const SEEDS = 300;

Deno.test(`${SEEDS} seeded schedules of faults end with every invariant holding`, async () => {
  const failures: string[] = [];
  let changes = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const result = await runSeed({ seed });
    changes += result.changes;
    if (result.violations.length > 0) {
      failures.push(`seed ${seed}:\n  ${result.violations.join("\n  ")}`);
    }
  }
  assert.deepEqual(failures, [], "replay with: deno task simulate --seed S --verbose");
  assert.ok(changes > SEEDS * 20, `only ${changes} task changes were checked`);
});

Deno.test("a seed replays exactly: the same changes in the same order at the same times", async () => {
  const first = await runSeed({ seed: 4242, steps: 120 });
  const second = await runSeed({ seed: 4242, steps: 120 });
  assert.equal(first.fingerprint, second.fingerprint);
  assert.equal(first.changes, second.changes);
  assert.notEqual((await runSeed({ seed: 4243, steps: 120 })).fingerprint, first.fingerprint);
});

Deno.test("the checks catch a report that moves a task back, a lost task and a double copy", async () => {
  await using sim = await startSimCluster({ nodes: 2 });
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const { body } = await sim.call("POST", "/tasks", { Name: `planted-${i}`, Image: "sim" });
    sim.checker.acknowledged.add(body.ID);
    ids.push(body.ID);
  }
  await sim.run(2_000);
  const manager = sim.cluster.manager!;
  // A bug that lets a report move a task back within its placement.
  await manager.tasks.change(ids[0], (t) => ({ task: { ...t, State: State.Scheduled } }));
  assert.match(sim.checker.violations.join("\n"), /went back from Running to Scheduled/);
  // A bug that loses an acknowledged task.
  await manager.tasks.remove(ids[1], () => true);
  // A bug that starts a second copy on another node.
  const running = await manager.tasks.get(ids[2])!;
  const other = sim.cluster.alive().find((n) => n.name !== running.Node)!;
  sim.network.partition(other.name, 10_000); // so that the manager cannot see and stop it
  await other.submit({
    ID: crypto.randomUUID(),
    State: State.Running,
    Timestamp: new Date().toISOString(),
    Task: { ...running, State: State.Scheduled, Placement: running.Placement },
  });
  await sim.run(200);
  sim.checker.settled(sim.cluster);
  const found = sim.checker.violations.join("\n");
  assert.match(found, new RegExp(`acknowledged task ${ids[1].slice(0, 8)} is lost`));
  assert.match(found, new RegExp(`${ids[2].slice(0, 8)} runs on node-\\d and node-\\d`));
});
