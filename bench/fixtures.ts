/**
 * Node sets for the scheduler benchmarks: what the manager would hand the scheduler for a
 * cluster of `count` nodes, each 8 cores and 32 GiB, some already loaded.
 *
 * @module
 */

import type { Node } from "../task/mod.ts";
import { newTask } from "../task/mod.ts";

const GiB = 1024 ** 3;

export function clusterOf(count: number): Node[] {
  return Array.from({ length: count }, (_, i) => ({
    Name: `node-${String(i).padStart(5, "0")}`,
    Ip: "127.0.0.1",
    Api: `http://127.0.0.1:5556/n/${i}`,
    Memory: 32 * GiB,
    MemoryAllocated: (i % 7) * GiB,
    Disk: 500 * GiB,
    DiskAllocated: 0,
    Cores: 8,
    CpuAllocated: (i % 5) * 0.5,
    Stats: {
      CpuCores: 8,
      CpuUsage: (i % 10) / 20,
      MemoryTotalBytes: 32 * GiB,
      MemoryAvailableBytes: (20 + (i % 10)) * GiB,
      DiskTotalBytes: 500 * GiB,
      DiskFreeBytes: 400 * GiB,
      Load1: 0.5,
      TaskCount: i % 5,
    },
    Role: "worker",
    TaskCount: i % 5,
    Status: i % 50 === 49 ? "down" : "ready",
    LastHeartbeat: new Date().toISOString(),
    Static: false,
    Error: "",
    Availability: "active",
    Labels: {},
    WorkerLabels: {},
    ManagerLabels: {},
  }));
}

/** A small web task: 0.25 core, 256 MiB. */
export const smallTask = newTask({ Image: "cube-test/sleep", Cpu: 0.25, Memory: 256 * 1024 ** 2 });
