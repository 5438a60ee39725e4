/** CSV (RFC 4180) for the zonal statistics table, when it is made in the browser. */
import type { ZoneStats } from "../api/contracts";

export function csvField(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = typeof value === "number" ? (Number.isFinite(value) ? String(value) : "") : String(value);
  return /[",\r\n]/.test(text) || /^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(columns: readonly string[], rows: readonly Record<string, unknown>[]): string {
  const lines = [columns.map(csvField).join(",")];
  for (const row of rows) lines.push(columns.map((c) => csvField(row[c])).join(","));
  return lines.join("\r\n") + "\r\n";
}

const FIRST = ["zone", "name", "count", "mean", "median", "std", "min", "max"];

/** The table's columns: the fixed ones first, then the percentiles in numeric order, then any
 * other key the server sent. */
export function zoneColumns(zones: readonly ZoneStats[]): string[] {
  const keys = new Set<string>();
  zones.forEach((z) => Object.keys(z).forEach((k) => keys.add(k)));
  const percentiles = [...keys].filter((k) => /^p\d+(\.\d+)?$/.test(k)).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  const rest = [...keys].filter((k) => !FIRST.includes(k) && !percentiles.includes(k)).sort();
  return [...FIRST.filter((k) => keys.has(k) || k === "zone"), ...percentiles, ...rest];
}
