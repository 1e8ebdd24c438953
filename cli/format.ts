/** Output helpers: aligned tables, sizes in binary units, relative times. */

import { isZeroTime, stateName, type Task } from "../task/mod.ts";

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("   ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/** Bytes in binary units: 1536 → "1.5 KiB", 268435456 → "256 MiB". */
export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = unit === 0 || value >= 100 || Number.isInteger(value)
    ? Math.round(value).toString()
    : value.toFixed(1);
  return `${shown} ${units[unit]}`;
}

/** "12 seconds ago", "3 minutes ago", ... or "-" for an unset time. */
export function ago(time: string, now = Date.now()): string {
  if (isZeroTime(time)) return "-";
  const seconds = Math.max(0, Math.round((now - Date.parse(time)) / 1000));
  const [n, unit] = seconds < 60
    ? [seconds, "second"]
    : seconds < 3600
    ? [Math.floor(seconds / 60), "minute"]
    : seconds < 86400
    ? [Math.floor(seconds / 3600), "hour"]
    : [Math.floor(seconds / 86400), "day"];
  return `${n} ${unit}${n === 1 ? "" : "s"} ago`;
}

export function ports(task: Task): string {
  return Object.entries(task.HostPorts ?? {})
    .flatMap(([port, bindings]) => bindings.map((b) => `${b.HostIp}:${b.HostPort}->${port}`))
    .join(", ");
}

export function taskState(task: Task): string {
  return stateName(task.State);
}
