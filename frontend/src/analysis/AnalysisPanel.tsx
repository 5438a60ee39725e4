/**
 * Analysis wizards: a spectral index of one scene, change detection between two dates. Each
 * starts a job and follows its progress; a finished job's result is added as a map layer.
 * The analysis endpoints are still being built: until the server offers them the panel says
 * so instead of failing.
 */
import { useEffect, useState } from "react";
import { useAuth, useCapabilities, useLayers, useServices } from "../app/context";
import type { ChangeMethod, ImageryFeature, JobPublic } from "../api/types";
import { tilesPath } from "../imagery/tiles";
import { DEFAULT_RAMP } from "../preview/colormap";
import { INDICES, type IndexName } from "../preview/indices";
import { ErrorNotice, Notice } from "../ui/Notice";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/** Poll a job until it ends; returns its latest state. */
function useJob(id: string | null): { job: JobPublic | null; error: unknown } {
  const { client } = useServices();
  const [job, setJob] = useState<JobPublic | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (!id) return;
    const abort = new AbortController();
    let timer = 0;
    const poll = async () => {
      try {
        const next = await client.job(id, abort.signal);
        setJob(next);
        if (!TERMINAL.has(next.status)) timer = window.setTimeout(() => void poll(), 1000);
      } catch (caught) {
        if (!abort.signal.aborted) setError(caught);
      }
    };
    void poll();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [client, id]);
  return { job, error };
}

function JobProgress({ id, onDone }: { id: string; onDone: (job: JobPublic) => void }) {
  const { job, error } = useJob(id);
  useEffect(() => {
    if (job?.status === "succeeded") onDone(job);
  }, [job, onDone]);
  if (error) return <ErrorNotice error={error} />;
  if (!job) return <Notice kind="loading">Starting…</Notice>;
  if (job.status === "failed") return <Notice kind="error">The analysis failed: {job.error ?? job.message ?? "no reason given"}</Notice>;
  const percent = Math.round((job.progress ?? 0) * (job.progress && job.progress <= 1 ? 100 : 1));
  return (
    <div className="job" data-testid="job-progress">
      <progress max={100} value={percent} /> {job.status} {percent}% {job.message ?? ""}
    </div>
  );
}

function sceneLabel(f: ImageryFeature): string {
  return `${f.properties.acquired_at?.slice(0, 10) ?? "undated"} · ${f.properties.name}`;
}

export function AnalysisPanel({ scenes }: { scenes: readonly ImageryFeature[] }) {
  const { client, baseUrl } = useServices();
  const auth = useAuth();
  const capabilities = useCapabilities();
  const { dispatch } = useLayers();
  const [wizard, setWizard] = useState<"index" | "change">("index");
  const [scene, setScene] = useState("");
  const [before, setBefore] = useState("");
  const [after, setAfter] = useState("");
  const [index, setIndex] = useState<IndexName>("ndvi");
  const [method, setMethod] = useState<ChangeMethod>("diff");
  const [jobId, setJobId] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const indexOffered = capabilities?.has("post", "/analysis/spectral-index") ?? true;
  const changeOffered = capabilities?.has("post", "/analysis/change-detection") ?? true;
  const ready = scenes.filter((f) => f.properties.status === "ready");

  if (!indexOffered && !changeOffered) {
    return (
      <Notice kind="unavailable">
        This server does not run analyses yet (no <code>/api/v1/analysis</code> endpoints). Spectral indices can still be previewed in the
        browser from the Preview tab.
      </Notice>
    );
  }
  if (auth.status !== "signed-in") {
    return (
      <Notice kind="signed-out" action={<button onClick={() => auth.openDialog("sign-in")}>Sign in</button>}>
        Sign in to run analyses.
      </Notice>
    );
  }

  async function run() {
    setError(null);
    setJobId(null);
    try {
      const job =
        wizard === "index"
          ? await client.startSpectralIndex({ imagery_id: scene, index })
          : await client.startChangeDetection({ before_id: before, after_id: after, method, index, threshold: "otsu" });
      setJobId(job.id);
    } catch (caught) {
      setError(caught);
    }
  }

  function showResult(job: JobPublic) {
    const resultId = String(job.result?.result_id ?? job.id);
    const tiles = `${baseUrl}${tilesPath("results", resultId)}@1x.png`;
    const legend = wizard === "index" ? { label: index.toUpperCase(), ramp: DEFAULT_RAMP[index] ?? "rdylgn", range: INDICES[index].valueRange } : undefined;
    dispatch({ type: "add", layer: { id: `result:${resultId}`, title: wizard === "index" ? `${index.toUpperCase()} result` : "Change mask", kind: "result", visible: true, opacity: 0.85, tiles, ...(legend ? { legend } : {}) } });
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
        <>
          <label>
            1. Scene
            <select value={scene} onChange={(e) => setScene(e.target.value)}>
              <option value="">Choose a scene…</option>
              {options}
            </select>
          </label>
          <label>
            2. Index
            <select value={index} onChange={(e) => setIndex(e.target.value as IndexName)}>
              {(Object.keys(INDICES) as IndexName[]).map((n) => (
                <option key={n} value={n}>
                  {n.toUpperCase()}: {INDICES[n].formula}
                </option>
              ))}
            </select>
          </label>
        </>
      ) : (
        <>
          <label>
            1. Before
            <select value={before} onChange={(e) => setBefore(e.target.value)}>
              <option value="">Choose the earlier scene…</option>
              {options}
            </select>
          </label>
          <label>
            2. After
            <select value={after} onChange={(e) => setAfter(e.target.value)}>
              <option value="">Choose the later scene…</option>
              {options}
            </select>
          </label>
          <label>
            3. Method
            <select value={method} onChange={(e) => setMethod(e.target.value as ChangeMethod)}>
              <option value="diff">Index differencing (Otsu threshold)</option>
              <option value="cva">Change vector analysis</option>
              <option value="postclass">Post-classification comparison</option>
            </select>
          </label>
        </>
      )}
      <button className="primary" disabled={wizard === "index" ? !scene : !before || !after || before === after} onClick={() => void run()}>
        Run
      </button>
      {error ? <ErrorNotice error={error} /> : null}
      {jobId ? <JobProgress id={jobId} onDone={showResult} /> : null}
    </section>
  );
}
