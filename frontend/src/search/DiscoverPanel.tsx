/**
 * Discover imagery in the external STAC API the server is configured for
 * (`POST /imagery/discover`, contract 1) and ingest the chosen items into the organisation's
 * catalog (`POST /imagery/ingest`, contract 2), following the ingest job live.
 */
import { useState, type FormEvent } from "react";
import { useAuth, useCapabilities, useMapHandle, useServices } from "../app/context";
import type { AOIPublic, JobPublic } from "../api/types";
import type { DiscoverRequest, DiscoverResponse } from "../api/contracts";
import { discoverRequest, ingestRequest } from "./discover";
import { fitToFootprints } from "./footprints";
import { SearchFilters } from "./SearchFilters";
import { ApiError } from "../api/errors";
import { JobProgress } from "../jobs/JobProgress";
import { ErrorNotice, Notice } from "../ui/Notice";

function DiscoverError({ error }: { error: unknown }) {
  if (error instanceof ApiError && (error.status === 502 || error.status === 504)) {
    return (
      <Notice kind="error">
        <span data-testid="discover-upstream-error">
          The external STAC catalogue could not be reached (the server answered {error.status}: {error.message}). Check the server’s STAC API
          setting and its internet access; your own catalog still works.
        </span>
      </Notice>
    );
  }
  return <ErrorNotice error={error} />;
}

export function DiscoverPanel({ aois, onIngested }: { aois: readonly AOIPublic[]; onIngested?: (job: JobPublic) => void }) {
  const { client } = useServices();
  const auth = useAuth();
  const capabilities = useCapabilities();
  const handle = useMapHandle();
  const [start, setStart] = useState("");
  const [end, setEnd] = useState("");
  const [maxCloud, setMaxCloud] = useState(30);
  const [where, setWhere] = useState("extent");
  const [collections, setCollections] = useState("");
  const [found, setFound] = useState<{ response: DiscoverResponse; area: DiscoverRequest } | null>(null);
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [jobId, setJobId] = useState<string | null>(null);
  const [ingested, setIngested] = useState<number | null>(null);

  const offered = capabilities?.has("post", "/imagery/discover") ?? true;
  const ingestOffered = capabilities?.has("post", "/imagery/ingest") ?? true;

  if (!offered) return <Notice kind="unavailable">This server does not search external STAC catalogues yet (no POST /api/v1/imagery/discover).</Notice>;
  if (auth.status !== "signed-in") {
    return (
      <Notice kind="signed-out" action={<button onClick={() => auth.openDialog("sign-in")}>Sign in</button>}>
        Sign in to discover imagery.
      </Notice>
    );
  }

  async function discover(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setFound(null);
    setChosen(new Set());
    try {
      const b = handle?.map.getBounds();
      const body = discoverRequest({ where, extent: b ? [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()] : undefined, start, end, maxCloud, collections, limit: 50 });
      const response = await client.discover(body);
      setFound({ response, area: body });
      // Show where the items are; nothing found leaves the map as it was.
      if (handle) fitToFootprints(handle.map, response.features);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  async function ingest() {
    if (!found) return;
    setError(null);
    setIngested(null);
    const items = found.response.features.filter((f) => chosen.has(f.id)).map((f) => ({ id: f.id, collection: f.properties.collection }));
    try {
      const job = await client.ingest(ingestRequest(items, found.area));
      setJobId(job.id);
    } catch (caught) {
      setError(caught);
    }
  }

  return (
    <section className="panel" aria-label="Discover imagery">
      <form className="search-form" onSubmit={(e) => void discover(e)}>
        <SearchFilters
          start={start}
          end={end}
          maxCloud={maxCloud}
          onStart={setStart}
          onEnd={setEnd}
          onMaxCloud={setMaxCloud}
        />
        <label>
          Where
          <select value={where} onChange={(e) => setWhere(e.target.value)} aria-label="Discover where">
            <option value="extent">The map’s extent</option>
            {aois.map((a) => (
              <option key={a.id} value={a.id}>
                Area: {a.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Collections (comma-separated, optional)
          <input value={collections} onChange={(e) => setCollections(e.target.value)} placeholder="sentinel-2-l2a" />
        </label>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Searching the STAC API…" : "Discover"}
        </button>
      </form>
      {busy ? <Notice kind="loading">Asking the external catalogue…</Notice> : null}
      {error ? <DiscoverError error={error} /> : null}
      {found && found.response.features.length === 0 ? <Notice kind="empty">The external catalogue has nothing here for these dates and cloud cover.</Notice> : null}
      {found && found.response.features.length > 0 ? (
        <>
          <p className="muted">{found.response.features.length} items</p>
          <ul className="results" data-testid="discover-results">
            {found.response.features.map((f) => (
              <li key={f.id} className="result">
                {f.properties.thumbnail ? <img className="thumb" src={f.properties.thumbnail} alt="" loading="lazy" referrerPolicy="no-referrer" /> : <div className="thumb thumb-empty" />}
                <label className="grow">
                  <input
                    type="checkbox"
                    checked={chosen.has(f.id)}
                    onChange={() =>
                      setChosen((c) => {
                        const next = new Set(c);
                        if (next.has(f.id)) next.delete(f.id);
                        else next.add(f.id);
                        return next;
                      })
                    }
                  />
                  <span>{f.id}</span>
                  <div className="muted">
                    {[f.properties.datetime?.slice(0, 10), f.properties.collection, f.properties.platform, f.properties.cloud_cover === null ? null : `cloud ${f.properties.cloud_cover}%`].filter(Boolean).join(" · ")}
                  </div>
                </label>
              </li>
            ))}
          </ul>
          {ingestOffered ? (
            <button className="primary" disabled={chosen.size === 0 || chosen.size > 50} onClick={() => void ingest()}>
              Ingest {chosen.size || ""} into the catalog
            </button>
          ) : (
            <Notice kind="unavailable">This server cannot ingest from the external catalogue yet.</Notice>
          )}
        </>
      ) : null}
      {jobId ? (
        <JobProgress
          id={jobId}
          label="Ingest"
          onDone={(job) => {
            if (job.status !== "completed") return;
            const ids = (job.results_summary as { imagery_ids?: string[] } | null)?.imagery_ids ?? [];
            setIngested(ids.length);
            onIngested?.(job);
          }}
        />
      ) : null}
      {ingested !== null ? <Notice kind="info">{ingested} scenes added to the catalog; they are listed under “Your catalog”.</Notice> : null}
    </section>
  );
}
