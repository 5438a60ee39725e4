/** What a finished analysis says about itself, as rows for a person to read. */
import type { JobPublic } from "../api/types";

export type SummaryRow = [label: string, value: string];

const num = (v: unknown, digits = 3): string | null => (typeof v === "number" && Number.isFinite(v) ? String(Number(v.toFixed(digits))) : null);

export function formatArea(m2: number): string {
  return m2 >= 1e6 ? `${(m2 / 1e6).toFixed(2)} km²` : m2 >= 1e4 ? `${(m2 / 1e4).toFixed(2)} ha` : `${Math.round(m2)} m²`;
}

export function summaryRows(job: Pick<JobPublic, "job_type" | "results_summary">): SummaryRow[] {
  const s = (job.results_summary ?? {}) as Record<string, unknown>;
  const rows: SummaryRow[] = [];
  const push = (label: string, value: string | null) => {
    if (value !== null) rows.push([label, value]);
  };
  if (job.job_type === "spectral-index") {
    const stats = (s.statistics ?? {}) as Record<string, unknown>;
    push("Index", typeof s.index === "string" ? s.index.toUpperCase() : null);
    push("Mean", num(stats.mean));
    push("Std. dev.", num(stats.std));
    push("Min", num(stats.min));
    push("Max", num(stats.max));
    push("Valid pixels", typeof stats.valid_pixels === "number" ? stats.valid_pixels.toLocaleString("en") : null);
  } else if (job.job_type === "change-detection") {
    const regions = (s.regions ?? {}) as Record<string, unknown>;
    push("Method", typeof s.method === "string" ? s.method + (typeof s.index === "string" ? ` (${s.index.toUpperCase()})` : "") : null);
    push("Threshold", num(s.threshold, 4));
    push("Changed", typeof s.changed_fraction === "number" ? `${(s.changed_fraction * 100).toFixed(1)} %` : null);
    push("Changed area", typeof s.changed_area_m2 === "number" ? formatArea(s.changed_area_m2) : null);
    push("Regions", typeof regions.count === "number" ? `${regions.count}${regions.capped ? " (capped)" : ""}` : null);
    push("Alignment", typeof s.alignment === "string" ? s.alignment : null);
  }
  return rows;
}
