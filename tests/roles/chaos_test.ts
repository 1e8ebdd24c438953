/**
 * Chaos on a real cluster: three manager processes on a 3-member etcd, two workers with
 * real containers, and tasks submitted all along, while rounds kill the leading manager
 * or an etcd member (then bring it back). At the end: every acknowledged task is there
 * and runs, once, in the container it first started in.
 */
import assert from "node:assert/strict";
import { State, type Task } from "../../task/mod.ts";
import { containersOf, docker, SLEEP_IMAGE, uniqueName } from "../../testing/docker.ts";
import { startEtcd } from "../../testing/etcd.ts";
import { joinWorkers, startManagers } from "../../testing/managers.ts";
import { request, tempDir, waitFor } from "../../testing/wait.ts";

/**
 * Submits tasks with IDs of its own, one after another, to any manager that takes them:
 * a submission that failed in a way that may have landed is sent again with the same ID,
 * so it is acknowledged (201) or found (409) — never made twice.
 */
function submitter(urls: string[]) {
  const acknowledged: string[] = [];
  let stopping = false;
  let at = 0;
  const loop = (async () => {
    for (let n = 0; !stopping; n++) {
      const id = crypto.randomUUID();
      const event = {
        ID: crypto.randomUUID(),
        State: 2,
        Task: { ID: id, State: 1, Name: `chaos-${n}`, Image: SLEEP_IMAGE },
      };
      const deadline = performance.now() + 30_000;
      for (;;) {
        const answer = await request(`${urls[at]}/tasks`, {
          body: event,
          signal: AbortSignal.timeout(3_000),
        }).catch(() => null);
        if (answer?.status === 201 || answer?.status === 409) break;
        if (answer && answer.status < 500) {
          throw new Error(`submit: ${answer.status} ${JSON.stringify(answer.body)}`);
        }
        if (performance.now() > deadline) throw new Error(`task ${id} not accepted in 30 s`);
        at = (at + 1) % urls.length;
        await new Promise((r) => setTimeout(r, 100));
      }
      acknowledged.push(id);
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  return {
    acknowledged,
    async stop() {
      stopping = true;
      await loop;
    },
  };
}

Deno.test("rounds of killed leaders and etcd members lose nothing, double nothing and restart nothing", async () => {
  await using etcd = await startEtcd();
  await using dir = await tempDir();
  await using managers = await startManagers(etcd.url, dir.path, 3);
  const names = [uniqueName("chaos-a"), uniqueName("chaos-b")];
  await using _workers = await joinWorkers(managers, dir.path, names);
  const load = submitter(managers.urls);
  const rounds = ["manager", "etcd leader", "manager", "etcd member", "manager"] as const;
  for (const round of rounds) {
    await new Promise((r) => setTimeout(r, 1_500));
    if (round === "manager") {
      const leader = await managers.leader();
      await managers.processes[leader].kill();
      await managers.leader();
      await managers.restart(leader);
    } else {
      const leader = await etcd.leader();
      const victim = round === "etcd leader" ? leader : (leader + 1) % 3;
      await etcd.kill(victim);
      await new Promise((r) => setTimeout(r, 1_500));
      await etcd.restart(victim);
    }
  }
  await new Promise((r) => setTimeout(r, 1_000));
  await load.stop();
  assert.ok(load.acknowledged.length >= 10, `only ${load.acknowledged.length} submissions`);

  const leader = managers.urls[await managers.leader()];
  const tasks: Task[] = await waitFor("every acknowledged task to run", async () => {
    const { body } = await request(`${leader}/tasks`);
    const states = new Map((body as Task[]).map((t) => [t.ID, t.State]));
    return load.acknowledged.every((id) => states.get(id) === State.Running) ? body : undefined;
  }, { timeoutMs: 30_000 });
  assert.equal(tasks.length, load.acknowledged.length, "nothing more than was acknowledged");
  const containers = [];
  for (const name of names) containers.push(...await containersOf(name));
  assert.equal(containers.length, tasks.length, "one container per task, ever");
  for (const task of tasks) {
    assert.equal(task.RestartCount, 0, `task ${task.ID} was not restarted`);
    const info = await docker.getContainer(task.ContainerID).inspect();
    assert.equal(info.State.Running, true);
    assert.equal(info.State.StartedAt, task.StartTime, `container of ${task.ID} started once`);
  }
  console.log(
    `chaos: ${rounds.length} rounds, ${tasks.length} tasks acknowledged, all running once`,
  );
});
