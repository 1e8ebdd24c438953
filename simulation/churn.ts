/**
 * Many short tasks over simulated days: batches are submitted, run, and finish, while
 * the manager forgets what finished longer ago than its retention. Measures what the
 * manager holds, which must stay at the live size (plus what the retention keeps).
 *
 * @module
 */

import { startSimCluster } from "../testing/sim_cluster.ts";

export interface ChurnOptions {
  tasks: number;
  /** Tasks per batch. */
  batch?: number;
  /** Simulated time between batches, in ms. */
  everyMs?: number;
  retentionMs?: number;
  nodes?: number;
}

export interface ChurnResult {
  tasks: number;
  simulatedMs: number;
  /** The most tasks the manager held at once. */
  largest: number;
  /** `GET /tasks` at the end. */
  listed: number;
  /** Task records (each with its story) left in the store at the end. */
  stored: number;
  violations: string[];
}

export async function churn(options: ChurnOptions): Promise<ChurnResult> {
  const batch = options.batch ?? 50;
  const everyMs = options.everyMs ?? 7.5 * 60_000;
  await using sim = await startSimCluster({
    nodes: options.nodes ?? 4,
    manager: { taskRetentionMs: options.retentionMs ?? 30 * 60_000 },
  });
  const start = sim.clock.now();
  let largest = 0;
  for (let submitted = 0; submitted < options.tasks; submitted += batch) {
    for (let i = 0; i < Math.min(batch, options.tasks - submitted); i++) {
      const { status, body } = await sim.call("POST", "/tasks", {
        Name: `short-${submitted + i}`,
        Image: "sim",
        RestartPolicy: "no",
      });
      if (status !== 201) throw new Error(`submit: ${status} ${JSON.stringify(body)}`);
    }
    await sim.run(2_000);
    for (const node of sim.cluster.alive()) {
      for (const task of node.running()) await node.exit(task.ID, 0);
    }
    await sim.run(everyMs - 2_000);
    largest = Math.max(largest, sim.cluster.manager!.tasks.size);
  }
  const { body: listed } = await sim.call("GET", "/tasks");
  const stored = (await sim.cluster.db.store("tasks").list()).length;
  return {
    tasks: options.tasks,
    simulatedMs: sim.clock.now() - start,
    largest,
    listed: listed.length,
    stored,
    violations: sim.checker.violations,
  };
}
