/**
 * Images and the worker's slots, against the real engine: the default pull policy is
 * Kubernetes' (a pinned local tag is used as it is; `latest` or no tag asks the registry
 * first), starts of one image at once share one pull, stops waiting out their grace
 * period do not hold up starts, and a start's slot is given back before its inspect.
 */
import assert from "node:assert/strict";
import { newTask, State } from "../../task/mod.ts";
import { docker, removeContainersOf, SLEEP_IMAGE, uniqueName } from "../../testing/docker.ts";
import { startTestWorker } from "../../testing/worker.ts";
import { request, waitFor } from "../../testing/wait.ts";
import { DockerRuntime, isLatest } from "../../worker/docker_runtime.ts";

Deno.test("an image is 'latest' when its tag says so or it has none; a digest or a pinned tag is not", () => {
  for (
    const image of ["nginx", "nginx:latest", "library/nginx", "registry:5000/app", "a/b:latest"]
  ) {
    assert.equal(isLatest(image), true, image);
  }
  for (const image of ["nginx:1.27", "registry:5000/app:v2", "app@sha256:" + "0".repeat(64)]) {
    assert.equal(isLatest(image), false, image);
  }
});

Deno.test("by default a pinned local tag is used as it is, and an untagged image asks the registry first", async () => {
  const pinned = `${SLEEP_IMAGE}:pinned`;
  await docker.getImage(SLEEP_IMAGE).tag({ repo: SLEEP_IMAGE, tag: "pinned" });
  try {
    const runtime = await DockerRuntime.open();
    assert.equal(runtime.pullPolicy, "auto");
    assert.equal(await runtime.ensureImage(newTask({ Image: pinned })), null, "no pull tried");
    // No registry answers here: the pull of the untagged image is tried, fails, and the
    // local copy is used, which the warning says.
    const warning = await runtime.ensureImage(newTask({ Image: SLEEP_IMAGE }));
    assert.match(warning ?? "", /pull of image "cube-test\/sleep" failed .*using the local copy/);
  } finally {
    await docker.getImage(pinned).remove();
  }
});

Deno.test("starts of one image at once share one pull", async () => {
  const runtime = await DockerRuntime.open({ pullPolicy: "always" });
  let pulls = 0;
  const pull = runtime.docker.pull.bind(runtime.docker);
  // Counts the calls, then makes the real one.
  runtime.docker.pull = ((...args: Parameters<typeof pull>) => {
    pulls++;
    return pull(...args);
  }) as typeof runtime.docker.pull;
  const warnings = await Promise.all(
    Array.from({ length: 5 }, () => runtime.ensureImage(newTask({ Image: SLEEP_IMAGE }))),
  );
  assert.equal(pulls, 1);
  assert.ok(warnings.every((w) => w?.includes("using the local copy")));
});

Deno.test("a stop waiting out its grace period does not hold up a start", async () => {
  await using w = await startTestWorker({ concurrency: 1 });
  const stubborn = {
    ID: crypto.randomUUID(),
    State: 2,
    Task: {
      ID: crypto.randomUUID(),
      State: 1,
      Name: "stubborn",
      Image: SLEEP_IMAGE,
      Cmd: ["/bin/sh", "-c", "trap '' TERM; while true; do sleep 1; done"],
    },
  };
  await request(`${w.url}/tasks`, { body: stubborn });
  await waitFor(
    "the stubborn task to run",
    async () => (await request(`${w.url}/tasks/${stubborn.Task.ID}`)).body.State === State.Running,
  );
  // It ignores SIGTERM: the stop takes the whole grace period (2 s here).
  const stopping = request(`${w.url}/tasks/${stubborn.Task.ID}`, { method: "DELETE" });
  const started = performance.now();
  const next = {
    ID: crypto.randomUUID(),
    State: 2,
    Task: { ID: crypto.randomUUID(), State: 1, Name: "next", Image: `${SLEEP_IMAGE}` },
  };
  await request(`${w.url}/tasks`, { body: next });
  await waitFor(
    "the next task to run",
    async () => (await request(`${w.url}/tasks/${next.Task.ID}`)).body.State === State.Running,
  );
  const waited = performance.now() - started;
  const stubbornNow = (await request(`${w.url}/tasks/${stubborn.Task.ID}`)).body;
  assert.notEqual(stubbornNow.State, State.Completed, "the stop was still waiting when it ran");
  assert.ok(waited < 2_000, `the start waited ${Math.round(waited)} ms`);
  await stopping;
});

Deno.test("a start holds its slot for the image check, create and start, not for the inspect after", async () => {
  const runtime = await DockerRuntime.open();
  const worker = uniqueName("slot");
  let released = false;
  let inspectedWhileHeld: boolean | null = null;
  const inspect = runtime.inspect.bind(runtime);
  runtime.inspect = (id: string) => {
    inspectedWhileHeld ??= !released;
    return inspect(id);
  };
  try {
    const started = await runtime.start(
      newTask({ Name: "slot", Image: `${SLEEP_IMAGE}` }),
      worker,
      undefined,
      async (job) => {
        try {
          return await job();
        } finally {
          released = true;
        }
      },
    );
    assert.equal(inspectedWhileHeld, false, "the inspect ran after the slot was given back");
    const info = await docker.getContainer(started.containerId).inspect();
    assert.equal(started.startTime, info.State.StartedAt, "the start time is Docker's");
  } finally {
    await removeContainersOf(worker);
  }
});
