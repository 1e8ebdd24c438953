/**
 * Figures and how they are printed: percentiles and the plain-text tables
 * `deno task bench` shows (and, from `lib/`, the bounded-concurrency runner).
 *
 * @module
 */

export { pool } from "../lib/async.ts";

/** One scenario's result: a titled table, and notes (targets met or missed, caveats). */
export interface Section {
  title: string;
  header: string[];
  rows: (string | number)[][];
  notes: string[];
}

export interface Summary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles of a list of numbers (ms). */
export function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] : NaN;
  return {
    count: sorted.length,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    max: sorted.at(-1) ?? NaN,
  };
}

export function ms(value: number): string {
  if (!Number.isFinite(value)) return "-";
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

export function ratio(a: number, b: number): string {
  return b > 0 ? `${(a / b).toFixed(2)}x` : "-";
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
}

/** "met" or "MISSED", for a figure against its target (lower is better). */
export function verdict(value: number, target: number): string {
  return value <= target ? "met" : "MISSED";
}

export function formatSection(section: Section): string {
  const cells = [section.header, ...section.rows.map((r) => r.map(String))];
  const widths = section.header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i])).join("   ").trimEnd();
  return [
    `== ${section.title}`,
    line(section.header),
    ...section.rows.map((r) => line(r.map(String))),
    ...section.notes.map((n) => `   ${n}`),
    "",
  ].join("\n");
}

/** Resident memory of a process now and at its peak, from /proc (Linux). */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kB = (key: string) =>
    Number(status.match(new RegExp(`^${key}:\\s+(\\d+)`, "m"))?.[1]) * 1024;
  return { rss: kB("VmRSS"), peak: kB("VmHWM") };
}
