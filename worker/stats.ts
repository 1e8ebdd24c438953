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
 * The average after an interval of `elapsedMs` that was `busy` (0..1): the older average
 * keeps the weight `e^(-elapsed/τ)`, so a reading every second or every minute gives the
 * same figure for the same load.
 */
export function foldUsage(
  average: number,
  busy: number,
  elapsedMs: number,
  timeConstantMs: number,
): number {
  return average + -Math.expm1(-elapsedMs / timeConstantMs) * (busy - average);
}

/**
 * Measures CPU usage as a load average does: the busy share of each interval between two
 * readings is folded into an average that forgets with a time constant of 10 s, starting
 * from idle when the worker starts. No timers: each reading takes a sample (the very first
 * waits out a short interval itself).
 *
 * Why not the last interval alone: schedulers compare nodes by this figure. Workers
 * sharing a machine read it at different moments, and over a second or two, during a
 * burst of starts, the same machine read 0.14 on one worker and 0.72 on the next, so
 * E-PVM sent 11 of 20 tasks to one node, 9 to another and none to the third. Averaged
 * like this, a moment's spike moves the figure a little and lasting load moves it fully
 * within half a minute.
 */
export class StatsCollector {
  #last: { stat: CpuStat; at: number } | null = null;
  #started = 0;
  #usage = 0;
  readonly #minIntervalMs: number;
  readonly #timeConstantMs: number;
  readonly #diskPath: string;

  constructor(
    options: { minIntervalMs?: number; timeConstantMs?: number; diskPath?: string } = {},
  ) {
    this.#minIntervalMs = options.minIntervalMs ?? 250;
    this.#timeConstantMs = options.timeConstantMs ?? 10_000;
    this.#diskPath = options.diskPath ?? "/";
  }

  async #sampleCpu(): Promise<CpuStat> {
    if (this.#last === null) {
      this.#started = performance.now();
      this.#last = { stat: await readCpuStat(), at: this.#started };
      await new Promise((r) => setTimeout(r, this.#minIntervalMs));
    }
    const now = await readCpuStat();
    const at = performance.now();
    const elapsed = at - this.#last.at;
    // Too close to the last reading to measure: the average stands.
    if (elapsed < this.#minIntervalMs) return now;
    this.#usage = foldUsage(
      this.#usage,
      cpuUsage(this.#last.stat, now),
      elapsed,
      this.#timeConstantMs,
    );
    this.#last = { stat: now, at };
    return now;
  }

  /** How long the average has been measuring, in ms. */
  get #measuredMs(): number {
    return this.#last ? Math.round(this.#last.at - this.#started) : 0;
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
      CpuUsageIntervalMs: this.#measuredMs,
      MemoryTotalBytes: mem.mem_total * 1024,
      MemoryAvailableBytes: mem.mem_available * 1024,
      DiskTotalBytes: disk.all,
      DiskFreeBytes: disk.free,
    };
  }
}
