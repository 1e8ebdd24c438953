/**
 * Node statistics read from `/proc`, in the book's shape (goprocinfo's JSON keys, with
 * memory in kB as `/proc/meminfo` gives it) plus cube's figures in plain units: bytes,
 * cores, and a CPU usage measured between two samples, which the book's single sample
 * could not give.
 *
 * @module
 */
import { statfs } from "node:fs/promises";
import type { CpuStat, DiskStats, LoadStats, MemStats, Stats } from "../task/stats.ts";

export type { Stats };

export async function readMemInfo(): Promise<MemStats> {
  const text = await Deno.readTextFile("/proc/meminfo");
  const kb = (name: string) => Number(text.match(new RegExp(`^${name}:\\s+(\\d+)`, "m"))?.[1] ?? 0);
  return {
    mem_total: kb("MemTotal"),
    mem_free: kb("MemFree"),
    mem_available: kb("MemAvailable"),
    buffers: kb("Buffers"),
    cached: kb("Cached"),
    swap_total: kb("SwapTotal"),
    swap_free: kb("SwapFree"),
  };
}

export async function readCpuStat(): Promise<CpuStat> {
  const line = (await Deno.readTextFile("/proc/stat")).split("\n")[0];
  const [id, ...fields] = line.trim().split(/\s+/);
  const n = fields.map(Number);
  return {
    id,
    user: n[0] ?? 0,
    nice: n[1] ?? 0,
    system: n[2] ?? 0,
    idle: n[3] ?? 0,
    iowait: n[4] ?? 0,
    irq: n[5] ?? 0,
    softirq: n[6] ?? 0,
    steal: n[7] ?? 0,
    guest: n[8] ?? 0,
    guest_nice: n[9] ?? 0,
  };
}

export async function readLoadAvg(): Promise<LoadStats> {
  const [l1, l5, l15, procs, lastPid] = (await Deno.readTextFile("/proc/loadavg")).trim().split(
    /\s+/,
  );
  const [running, total] = procs.split("/").map(Number);
  return {
    last1min: Number(l1),
    last5min: Number(l5),
    last15min: Number(l15),
    process_running: running,
    process_total: total,
    last_pid: Number(lastPid),
  };
}

/**
 * Disk figures of the filesystem holding `path`, from `statfs(2)` (through `node:fs`,
 * which Deno implements): no `df` process per heartbeat.
 */
export async function readDisk(path = "/"): Promise<DiskStats> {
  try {
    const fs = await statfs(path);
    return {
      all: fs.blocks * fs.bsize,
      used: (fs.blocks - fs.bfree) * fs.bsize,
      free: fs.bavail * fs.bsize,
      freeInodes: fs.ffree,
    };
  } catch {
    return { all: 0, used: 0, free: 0, freeInodes: 0 };
  }
}

function busyAndTotal(s: CpuStat): [number, number] {
  const idle = s.idle + s.iowait;
  const total = s.user + s.nice + s.system + s.idle + s.iowait + s.irq + s.softirq + s.steal;
  return [total - idle, total];
}

/** CPU busy share between two `/proc/stat` samples (0..1). */
export function cpuUsage(before: CpuStat, after: CpuStat): number {
  const [busy0, total0] = busyAndTotal(before);
  const [busy1, total1] = busyAndTotal(after);
  const total = total1 - total0;
  return total > 0 ? Math.min(1, Math.max(0, (busy1 - busy0) / total)) : 0;
}

/**
 * Keeps the CPU samples of the last two seconds so that each reading measures usage over
 * a real interval (at least 250 ms, about 2 s once warm). No timers: a reading compares
 * with the oldest sample kept, and the very first waits out a short interval itself.
 */
export class StatsCollector {
  /** Recent samples, oldest first: usage is measured from the oldest to the newest. */
  #samples: { stat: CpuStat; at: number }[] = [];
  #usage = 0;
  #intervalMs = 0;
  readonly #minIntervalMs: number;
  readonly #windowMs: number;
  readonly #diskPath: string;

  constructor(options: { minIntervalMs?: number; windowMs?: number; diskPath?: string } = {}) {
    this.#minIntervalMs = options.minIntervalMs ?? 250;
    // Over 2 s rather than between two heartbeats: workers sharing a machine then see the
    // same load, and a moment's spike does not decide a placement.
    this.#windowMs = options.windowMs ?? 2_000;
    this.#diskPath = options.diskPath ?? "/";
  }

  async #sampleCpu(): Promise<CpuStat> {
    let now = await readCpuStat();
    let at = performance.now();
    if (this.#samples.length === 0) {
      this.#samples.push({ stat: now, at });
      await new Promise((r) => setTimeout(r, this.#minIntervalMs));
      now = await readCpuStat();
      at = performance.now();
    }
    this.#samples.push({ stat: now, at });
    while (this.#samples.length > 2 && at - this.#samples[1].at >= this.#windowMs) {
      this.#samples.shift();
    }
    const first = this.#samples[0];
    if (at - first.at >= this.#minIntervalMs) {
      this.#usage = cpuUsage(first.stat, now);
      this.#intervalMs = Math.round(at - first.at);
    } else this.#samples.pop(); // too close to the last: keep the sample that is older
    return now;
  }

  async read(taskCount: number): Promise<Stats> {
    const [cpu, mem, load, disk] = await Promise.all([
      this.#sampleCpu(),
      readMemInfo(),
      readLoadAvg(),
      readDisk(this.#diskPath),
    ]);
    return {
      MemStats: mem,
      DiskStats: disk,
      CpuStats: cpu,
      LoadStats: load,
      TaskCount: taskCount,
      CpuCores: navigator.hardwareConcurrency,
      CpuUsage: this.#usage,
      CpuUsageIntervalMs: this.#intervalMs,
      MemoryTotalBytes: mem.mem_total * 1024,
      MemoryAvailableBytes: mem.mem_available * 1024,
      DiskTotalBytes: disk.all,
      DiskFreeBytes: disk.free,
    };
  }
}
