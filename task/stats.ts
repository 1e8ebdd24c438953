import type { NodeStats } from "./node.ts";

/**
 * A worker's `GET /stats` on the wire: the book's shape (goprocinfo's JSON keys, memory
 * in kB as `/proc/meminfo` gives it) plus cube's figures in plain units.
 *
 * @module
 */

export interface MemStats {
  mem_total: number;
  mem_free: number;
  mem_available: number;
  buffers: number;
  cached: number;
  swap_total: number;
  swap_free: number;
}

export interface DiskStats {
  all: number;
  used: number;
  free: number;
  freeInodes: number;
}

export interface CpuStat {
  id: string;
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
  guest: number;
  guest_nice: number;
}

export interface LoadStats {
  last1min: number;
  last5min: number;
  last15min: number;
  process_running: number;
  process_total: number;
  last_pid: number;
}

export interface Stats {
  MemStats: MemStats;
  DiskStats: DiskStats;
  CpuStats: CpuStat;
  LoadStats: LoadStats;
  TaskCount: number;
  // --- cube's figures, in plain units -----------------------------------------------
  /** Logical CPUs. */
  CpuCores: number;
  /**
   * Busy share of all cores, 0..1, averaged like a load average: recent intervals weigh
   * most, with a time constant of 10 s, from idle when the worker started.
   */
  CpuUsage: number;
  /** How long CpuUsage has been measuring (since the worker's first reading), in ms. */
  CpuUsageIntervalMs: number;
  MemoryTotalBytes: number;
  MemoryAvailableBytes: number;
  DiskTotalBytes: number;
  DiskFreeBytes: number;
}

/** The slice of `Stats` a worker sends with its heartbeat and the manager schedules with. */
export function nodeStats(stats: Stats): NodeStats {
  return {
    CpuCores: stats.CpuCores,
    CpuUsage: stats.CpuUsage,
    MemoryTotalBytes: stats.MemoryTotalBytes,
    MemoryAvailableBytes: stats.MemoryAvailableBytes,
    DiskTotalBytes: stats.DiskTotalBytes,
    DiskFreeBytes: stats.DiskFreeBytes,
    Load1: stats.LoadStats?.last1min ?? 0,
    TaskCount: stats.TaskCount,
  };
}
