/**
 * Statistics over areas: the time series of an index over a saved area or a point (contract 5,
 * a chart), and zonal statistics of a result or a scene's band over areas (contract 4, a
 * table with CSV download).
 */
import { useEffect, useState } from "react";
import { useAuth, useCapabilities, useMapHandle, useServices } from "../app/context";
import type { AOIPublic, ImageryFeature, JobPublic } from "../api/types";
import type { TimeSeriesSummary, ZonalSummary, ZoneStats } from "../api/contracts";
import { ApiError } from "../api/errors";
import { saveFile } from "../analysis/download";
import { resultTitle, RESULT_TYPES } from "../analysis/AnalysisPanel";
import { JobProgress } from "../jobs/JobProgress";
import { INDICES, type IndexName } from "../preview/indices";
import { ErrorNotice, Notice } from "../ui/Notice";
import { toCsv, zoneColumns } from "./csv";
import { TimeSeriesChart } from "./TimeSeriesChart";

function TimeSeriesSection({ aois }: { aois: AOIPublic[] }) {
  const { client } = useServices();
  const capabilities = useCapabilities();
  const handle = useMapHandle();
  const [index, setIndex] = useState<IndexName>("ndvi");
  const [where, setWhere] = useState("");
  const [jobId, setJobId] = useState<string | null>(null);
  const [summary, setSummary] = useState<TimeSeriesSummary | null>(null);
  const [error, setError] = useState<unknown>(null);
  if (!(capabilities?.has("post", "/analysis/timeseries") ?? true)) {
    return <Notice kind="unavailable">This server does not compute time series yet (no POST /api/v1/analysis/timeseries).</Notice>;
  }
  async function run() {
    setError(null);
    setSummary(null);
    try {
      const centre = handle?.map.getCenter().wrap();
      const body = where === "centre" ? { index_name: index, point: [centre!.lng, centre!.lat] as [number, number] } : { index_name: index, aoi_id: where };
      setJobId((await client.startTimeSeries(body)).id);
    } catch (caught) {
      setError(caught);
    }
  }
  return (
    <section className="panel" aria-label="Time series">
      <h3>Time series</h3>
      <div className="row wrap">
        <select value={index} onChange={(e) => setIndex(e.target.value as IndexName)} aria-label="Time series index">
          {(Object.keys(INDICES) as IndexName[]).map((n) => (
            <option key={n} value={n}>
              {n.toUpperCase()}
            </option>
          ))}
        </select>
        <select value={where} onChange={(e) => setWhere(e.target.value)} aria-label="Time series area">
          <option value="">Choose an area…</option>
          <option value="centre">The point at the map’s centre</option>
          {aois.map((a) => (
            <option key={a.id} value={a.id}>
              {a.name}
            </option>
          ))}
        </select>
        <button className="primary" disabled={!where} onClick={() => void run()}>
          Chart
        </button>
      </div>
      {error ? <ErrorNotice error={error} /> : null}
      {jobId ? <JobProgress id={jobId} label="Time series" onDone={(job) => job.status === "completed" && setSummary(job.results_summary as unknown as TimeSeriesSummary)} /> : null}
      {summary ? (
        summary.series.length === 0 ? (
          <Notice kind="empty">No ready imagery covers this area.</Notice>
        ) : (
          <TimeSeriesChart series={summary.series} label={summary.index_name.toUpperCase()} />
        )
      ) : null}
    </section>
  );
}

function ZoneTable({ zones }: { zones: ZoneStats[] }) {
  const columns = zoneColumns(zones);
  return (
    <div className="table-wrap">
      <table className="zones" data-testid="zonal-table">
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c}>{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {zones.map((z) => (
            <tr key={z.zone}>
              {columns.map((c) => {
                const v = z[c];
                return <td key={c}>{typeof v === "number" ? Number(v.toPrecision(5)) : (v ?? "—")}</td>;
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ZonalSection({ aois, scenes, active }: { aois: AOIPublic[]; scenes: readonly ImageryFeature[]; active: boolean }) {
  const { client } = useServices();
  const capabilities = useCapabilities();
  const auth = useAuth();
  const [results, setResults] = useState<JobPublic[]>([]);
  const [source, setSource] = useState("");
  const [band, setBand] = useState("ndvi");
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [jobId, setJobId] = useState<string | null>(null);
  const [zones, setZones] = useState<ZoneStats[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (!active) return;
    client
      .jobs({ status: ["completed"], limit: 50 })
      .then((page) => setResults(page.items.filter((j) => RESULT_TYPES.has(j.job_type))))
      .catch(() => setResults([]));
  }, [client, auth.scope, jobId, active]);

  if (!(capabilities?.has("post", "/analysis/zonal-stats") ?? true)) {
    return <Notice kind="unavailable">This server does not compute zonal statistics yet (no POST /api/v1/analysis/zonal-stats).</Notice>;
  }
  const ready = scenes.filter((f) => f.properties.status === "ready");
  async function run() {
    setError(null);
    setZones(null);
    try {
      const [kind, id] = source.split(":") as [string, string];
      const body = kind === "job" ? { job_id: id, aoi_ids: [...chosen] } : { imagery_id: id, band, aoi_ids: [...chosen] };
      setJobId((await client.startZonalStats(body)).id);
    } catch (caught) {
      setError(caught);
    }
  }
  async function downloadCsv() {
    if (!jobId || !zones) return;
    try {
      saveFile(await client.zonesCsv(jobId));
    } catch (caught) {
      // A server without the zones export: the same table, written here.
      if (caught instanceof ApiError && (caught.kind === "not-found" || caught.kind === "unavailable")) {
        const columns = zoneColumns(zones);
        saveFile({ blob: new Blob([toCsv(columns, zones)], { type: "text/csv" }), filename: `zonal-stats-${jobId}.csv` });
      } else setError(caught);
    }
  }
  return (
    <section className="panel" aria-label="Zonal statistics">
      <h3>Zonal statistics</h3>
      <label>
        Of
        <select value={source} onChange={(e) => setSource(e.target.value)} aria-label="Zonal source">
          <option value="">Choose a result or a scene…</option>
          {results.map((j) => (
            <option key={j.id} value={`job:${j.id}`}>
              Result: {resultTitle(j)} · {j.finished_at?.slice(0, 16).replace("T", " ")}
            </option>
          ))}
          {ready.map((f) => (
            <option key={String(f.id)} value={`imagery:${String(f.id)}`}>
              Scene: {f.properties.name}
            </option>
          ))}
        </select>
      </label>
      {source.startsWith("imagery:") ? (
        <label>
          Band or index
          <select value={band} onChange={(e) => setBand(e.target.value)} aria-label="Zonal band">
            {[...Object.keys(INDICES), "blue", "green", "red", "nir", "swir16", "swir22"].map((b) => (
              <option key={b} value={b}>
                {b}
              </option>
            ))}
          </select>
        </label>
      ) : null}
      <fieldset className="zone-areas">
        <legend>Over the areas</legend>
        {aois.length === 0 ? <p className="muted">No saved areas: draw and save one first.</p> : null}
        {aois.map((a) => (
          <label key={a.id}>
            <input
              type="checkbox"
              checked={chosen.has(a.id)}
              onChange={() =>
                setChosen((c) => {
                  const next = new Set(c);
                  if (next.has(a.id)) next.delete(a.id);
                  else next.add(a.id);
                  return next;
                })
              }
            />
            {a.name}
          </label>
        ))}
      </fieldset>
      <button className="primary" disabled={!source || chosen.size === 0} onClick={() => void run()}>
        Compute
      </button>
      {error ? <ErrorNotice error={error} /> : null}
      {jobId ? <JobProgress id={jobId} label="Zonal statistics" onDone={(job) => job.status === "completed" && setZones((job.results_summary as unknown as ZonalSummary).zones)} /> : null}
      {zones ? (
        zones.length === 0 ? (
          <Notice kind="empty">No zone overlaps the data.</Notice>
        ) : (
          <>
            <ZoneTable zones={zones} />
            <button onClick={() => void downloadCsv()}>Download CSV</button>
          </>
        )
      ) : null}
    </section>
  );
}

export function StatsPanel({ scenes, active = true }: { scenes: readonly ImageryFeature[]; active?: boolean }) {
  const { client } = useServices();
  const auth = useAuth();
  const [aois, setAois] = useState<AOIPublic[]>([]);
  const signedIn = auth.status === "signed-in";
  useEffect(() => {
    if (signedIn && active) client.listAois({ limit: 500 }).then(setAois, () => setAois([]));
  }, [client, signedIn, auth.scope, active]);
  if (!signedIn) {
    return (
      <Notice kind="signed-out" action={<button onClick={() => auth.openDialog("sign-in")}>Sign in</button>}>
        Sign in to compute statistics.
      </Notice>
    );
  }
  return (
    <>
      <TimeSeriesSection aois={aois} />
      <ZonalSection aois={aois} scenes={scenes} active={active} />
    </>
  );
}
