/**
 * Analysis wizards: a spectral index of one scene, change detection between two dates (both
 * optionally clipped to a saved area). Each starts a job and follows it live; a finished
 * result goes on the map (the index with its colour map and legend; the change mask and the
 * changed regions, whose properties a click shows) with its statistics, exports and a share
 * link. Results of earlier sessions are listed too (the organisation's finished jobs).
 */
import { useCallback, useEffect, useState } from "react";
import type { FeatureCollection, Polygon } from "geojson";
import { useAuth, useCapabilities, useLayers, useMapHandle, useServices } from "../app/context";
import type { AOIPublic, ChangeMethod, ImageryFeature, JobPublic } from "../api/types";
import { JobProgress } from "../jobs/JobProgress";
import { indexStyle, resultLayer } from "../layers/rasterLayers";
import { INDICES, type IndexName } from "../preview/indices";
import { ErrorNotice, Notice } from "../ui/Notice";
import { saveFile } from "./download";
import { ShareButton } from "./ShareButton";
import { formatArea, summaryRows } from "./summary";

export const RESULT_TYPES = new Set(["spectral-index", "change-detection"]);

function sceneLabel(f: ImageryFeature): string {
  return `${f.properties.acquired_at?.slice(0, 10) ?? "undated"} · ${f.properties.name}`;
}

export function resultTitle(job: Pick<JobPublic, "job_type" | "parameters" | "results_summary">): string {
  const p = job.parameters as { index_name?: string; method?: string };
  const s = (job.results_summary ?? {}) as { index?: string };
  if (job.job_type === "spectral-index") return `${(p.index_name ?? s.index ?? "index").toUpperCase()} result`;
  return `Change mask (${p.method ?? "diff"})`;
}

function bboxOf(geometry: Polygon | GeoJSON.MultiPolygon): [number, number, number, number] {
  const coords = geometry.type === "Polygon" ? geometry.coordinates.flat() : geometry.coordinates.flat(2);
  const xs = coords.map((c) => c[0]!);
  const ys = coords.map((c) => c[1]!);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

/** Put a finished analysis on the map: its raster, and for a change detection its regions. */
function useShowResult() {
  const { client, baseUrl } = useServices();
  const { dispatch } = useLayers();
  return useCallback(
    async (job: JobPublic): Promise<FeatureCollection | null> => {
      const index = ((job.parameters as { index_name?: string }).index_name ?? (job.results_summary as { index?: string } | null)?.index ?? "ndvi") as IndexName;
      const style = job.job_type === "spectral-index" ? indexStyle(index) : ({ kind: "mask" } as const);
      dispatch({ type: "add", layer: resultLayer(baseUrl, job.id, resultTitle(job), style) });
      if (job.job_type !== "change-detection") return null;
      const regions = await client.resultFeatures(job.id);
      dispatch({ type: "add", layer: { id: `regions:${job.id}`, title: "Changed regions", kind: "result", visible: true, opacity: 1, features: regions } });
      return regions;
    },
    [baseUrl, client, dispatch],
  );
}

function ResultCard({ job, shown }: { job: JobPublic; shown: boolean }) {
  const { client } = useServices();
  const capabilities = useCapabilities();
  const handle = useMapHandle();
  const show = useShowResult();
  const [regions, setRegions] = useState<FeatureCollection | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const display = useCallback(async () => {
    setError(null);
    try {
      setRegions(await show(job));
    } catch (caught) {
      setError(caught);
    }
  }, [job, show]);

  useEffect(() => {
    if (shown) void display();
  }, [shown, display]);

  async function exportAs(format: "geojson" | "geotiff" | "csv") {
    setBusy(format);
    setError(null);
    try {
      saveFile(await client.exportResult(job.id, format));
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(null);
    }
  }

  const change = job.job_type === "change-detection";
  const largest = (regions?.features ?? []).slice(0, 5);
  return (
    <li className="result-card" data-testid="result-card" data-job-type={job.job_type} data-job={job.id}>
      <div className="row">
        <strong className="grow">{resultTitle(job)}</strong>
        <span className="muted">{job.finished_at?.slice(0, 16).replace("T", " ")}</span>
      </div>
      <table className="stats" data-testid="result-stats">
        <tbody>
          {summaryRows(job).map(([label, value]) => (
            <tr key={label}>
              <th>{label}</th>
              <td>{value}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="row wrap">
        <button onClick={() => void display()}>Show on map</button>
        {change ? (
          <button onClick={() => void exportAs("geojson")} disabled={busy !== null}>
            {busy === "geojson" ? "Exporting…" : "Export GeoJSON"}
          </button>
        ) : null}
        <button onClick={() => void exportAs("geotiff")} disabled={busy !== null}>
          {busy === "geotiff" ? "Exporting…" : "GeoTIFF"}
        </button>
        <button onClick={() => void exportAs("csv")} disabled={busy !== null}>
          CSV
        </button>
        {capabilities?.has("post", "/analysis/results/{id}/shares") ?? true ? <ShareButton resultId={job.id} /> : null}
      </div>
      {change && largest.length > 0 ? (
        <details className="regions" open>
          <summary>Largest changed regions</summary>
          <ol data-testid="region-list">
            {largest.map((f, i) => (
              <li key={String(f.id ?? i)}>
                <button
                  className="link"
                  onClick={() => handle?.map.fitBounds(bboxOf(f.geometry as Polygon), { padding: 120, duration: 0, maxZoom: 16 })}
                  aria-label={`Zoom to changed region ${i + 1}`}
                >
                  Region {i + 1}: {formatArea(Number((f.properties as { area_m2?: number }).area_m2 ?? 0))}
                </button>
              </li>
            ))}
          </ol>
          <p className="hint">Click a region on the map to see its properties.</p>
        </details>
      ) : null}
      {error ? <ErrorNotice error={error} /> : null}
    </li>
  );
}

export function AnalysisPanel({ scenes, active = true }: { scenes: readonly ImageryFeature[]; active?: boolean }) {
  const { client } = useServices();
  const auth = useAuth();
  const capabilities = useCapabilities();
  const [wizard, setWizard] = useState<"index" | "change">("index");
  const [scene, setScene] = useState("");
  const [before, setBefore] = useState("");
  const [after, setAfter] = useState("");
  const [index, setIndex] = useState<IndexName>("ndvi");
  const [method, setMethod] = useState<ChangeMethod>("diff");
  const [aoi, setAoi] = useState("");
  const [aois, setAois] = useState<AOIPublic[]>([]);
  const [running, setRunning] = useState<{ id: string; label: string }[]>([]);
  const [results, setResults] = useState<JobPublic[]>([]);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [error, setError] = useState<unknown>(null);

  const indexOffered = capabilities?.has("post", "/analysis/spectral-index") ?? true;
  const changeOffered = capabilities?.has("post", "/analysis/change-detection") ?? true;
  const ready = scenes.filter((f) => f.properties.status === "ready");
  const signedIn = auth.status === "signed-in";

  // The organisation's finished analyses, newest first (also after a reload).
  useEffect(() => {
    if (!signedIn) return;
    setResults([]);
    client
      .jobs({ status: ["completed"], limit: 50 })
      .then((page) => setResults(page.items.filter((j) => RESULT_TYPES.has(j.job_type)).slice(0, 10)))
      .catch(() => undefined);
  }, [client, signedIn, auth.scope]);

  useEffect(() => {
    if (signedIn && active) client.listAois({ limit: 500 }).then(setAois, () => setAois([]));
  }, [client, signedIn, auth.scope, active]);

  if (!indexOffered && !changeOffered) {
    return (
      <Notice kind="unavailable">
        This server does not run analyses yet (no <code>/api/v1/analysis</code> endpoints). Spectral indices can still be previewed in the
        browser from the Preview tab.
      </Notice>
    );
  }
  if (!signedIn) {
    return (
      <Notice kind="signed-out" action={<button onClick={() => auth.openDialog("sign-in")}>Sign in</button>}>
        Sign in to run analyses.
      </Notice>
    );
  }

  async function run() {
    setError(null);
    try {
      const clip = aoi ? { aoi_id: aoi } : {};
      const job =
        wizard === "index"
          ? await client.startSpectralIndex({ imagery_id: scene, index_name: index, ...clip })
          : await client.startChangeDetection({
              imagery_id_before: before,
              imagery_id_after: after,
              method,
              ...(method === "postclass" ? {} : { index_name: index }),
              threshold: "otsu",
              ...clip,
            });
      const label = wizard === "index" ? `${index.toUpperCase()} of ${ready.find((f) => String(f.id) === scene)?.properties.name ?? "scene"}` : `Change detection (${method})`;
      setRunning((r) => [{ id: job.id, label }, ...r]);
    } catch (caught) {
      setError(caught);
    }
  }

  function finished(job: JobPublic) {
    if (job.status !== "completed") return;
    setResults((r) => [job, ...r.filter((j) => j.id !== job.id)]);
    setFresh((f) => new Set(f).add(job.id));
  }

  const options = ready.map((f) => (
    <option key={String(f.id)} value={String(f.id)}>
      {sceneLabel(f)}
    </option>
  ));
  return (
    <section className="panel" aria-label="Analyses">
      <div className="toolbar" role="tablist">
        <button role="tab" aria-selected={wizard === "index"} onClick={() => setWizard("index")} disabled={!indexOffered}>
          Spectral index
        </button>
        <button role="tab" aria-selected={wizard === "change"} onClick={() => setWizard("change")} disabled={!changeOffered}>
          Change detection
        </button>
      </div>
      {ready.length === 0 ? <Notice kind="empty">Search for imagery first: the scenes found (and ready) can be analysed here.</Notice> : null}
      {wizard === "index" ? (
        <label>
          1. Scene
          <select value={scene} onChange={(e) => setScene(e.target.value)} aria-label="Scene">
            <option value="">Choose a scene…</option>
            {options}
          </select>
        </label>
      ) : (
        <>
          <label>
            1. Before
            <select value={before} onChange={(e) => setBefore(e.target.value)} aria-label="Before">
              <option value="">Choose the earlier scene…</option>
              {options}
            </select>
          </label>
          <label>
            2. After
            <select value={after} onChange={(e) => setAfter(e.target.value)} aria-label="After">
              <option value="">Choose the later scene…</option>
              {options}
            </select>
          </label>
          <label>
            3. Method
            <select value={method} onChange={(e) => setMethod(e.target.value as ChangeMethod)} aria-label="Method">
              <option value="diff">Index differencing (Otsu threshold)</option>
              <option value="cva">Change vector analysis</option>
              <option value="postclass">Post-classification comparison</option>
            </select>
          </label>
        </>
      )}
      {wizard === "index" || method === "diff" ? (
        <label>
          {wizard === "index" ? "2." : "4."} Index
          <select value={index} onChange={(e) => setIndex(e.target.value as IndexName)} aria-label="Index">
            {(Object.keys(INDICES) as IndexName[]).map((n) => (
              <option key={n} value={n}>
                {n.toUpperCase()}: {INDICES[n].formula}
              </option>
            ))}
          </select>
        </label>
      ) : null}
      <label>
        Clip to an area (optional)
        <select value={aoi} onChange={(e) => setAoi(e.target.value)} aria-label="Clip to area">
          <option value="">The whole scene</option>
          {aois.map((a) => (
            <option key={a.id} value={a.id}>
              {a.name}
            </option>
          ))}
        </select>
      </label>
      <button className="primary" disabled={wizard === "index" ? !scene : !before || !after || before === after} onClick={() => void run()}>
        Run
      </button>
      {wizard === "change" && before && before === after ? <p className="hint">Choose two different scenes.</p> : null}
      {error ? <ErrorNotice error={error} /> : null}
      {running.map((r) => (
        <JobProgress key={r.id} id={r.id} label={r.label} onDone={finished} />
      ))}
      <h3>Results</h3>
      {results.length === 0 ? (
        <Notice kind="empty">No finished analyses yet.</Notice>
      ) : (
        <ul className="plain result-list">
          {results.map((job) => (
            <ResultCard key={job.id} job={job} shown={fresh.has(job.id)} />
          ))}
        </ul>
      )}
    </section>
  );
}
