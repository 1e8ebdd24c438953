import Docker from "dockerode";
import { LABEL_WORKER } from "../worker/docker_runtime.ts";

export const docker = new Docker();

export const HTTP_IMAGE = "cube-test/http";
export const FAIL_IMAGE = "cube-test/fail";
export const SLEEP_IMAGE = "cube-test/sleep";

/** Containers labelled for `worker`, running or not. */
export async function containersOf(worker: string): Promise<Docker.ContainerInfo[]> {
  return await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL_WORKER}=${worker}`] },
  });
}

/** Removes every container labelled for `worker` (test cleanup). */
export async function removeContainersOf(worker: string): Promise<void> {
  for (const c of await containersOf(worker)) {
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
  }
}

/** A unique worker name, so tests sharing the engine never see each other's containers. */
export function uniqueName(prefix = "test"): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}
