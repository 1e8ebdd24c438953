import type { Node, NodeStats } from "../task/mod.ts";

const GiB = 1024 ** 3;

/** A node record as the manager would hold it; a fake is right here: schedulers are fed stats. */
export function fakeNode(
  name: string,
  fields: Partial<Node> = {},
  stats: Partial<NodeStats> = {},
): Node {
  return {
    Name: name,
    Ip: "127.0.0.1",
    Api: `http://127.0.0.1/${name}`,
    Memory: 4 * GiB,
    MemoryAllocated: 0,
    Disk: 100 * GiB,
    DiskAllocated: 0,
    Cores: 2,
    CpuAllocated: 0,
    Stats: {
      CpuCores: 2,
      CpuUsage: 0,
      MemoryTotalBytes: 4 * GiB,
      MemoryAvailableBytes: 4 * GiB,
      DiskTotalBytes: 100 * GiB,
      DiskFreeBytes: 100 * GiB,
      Load1: 0,
      TaskCount: 0,
      ...stats,
    },
    Role: "worker",
    TaskCount: 0,
    Status: "ready",
    LastHeartbeat: new Date().toISOString(),
    Static: false,
    Error: "",
    Availability: "active",
    Labels: {},
    WorkerLabels: {},
    ManagerLabels: {},
    ...fields,
  };
}

/** A heartbeat's stats, valid and unremarkable: for tests that send heartbeats by hand. */
export const HEARTBEAT_STATS = {
  CpuCores: 2,
  CpuUsage: 0,
  MemoryTotalBytes: 1e9,
  MemoryAvailableBytes: 1e9,
  DiskTotalBytes: 1e10,
  DiskFreeBytes: 1e10,
};

/** The book's `task.json` (a `TaskEvent`) for task `id` of `image`, with a port to publish. */
export function bookTaskEvent(id: string, image: string) {
  return {
    ID: crypto.randomUUID(),
    State: 2,
    Task: {
      State: 1,
      ID: id,
      Name: "test-chapter-5-1",
      Image: image,
      ExposedPorts: { "80/tcp": {} },
    },
  };
}
