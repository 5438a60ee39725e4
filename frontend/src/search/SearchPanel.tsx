/**
 * Imagery search over the organisation's catalog (`GET /imagery/search`): date range, cloud
 * cover, and the map extent or a saved area. Results are footprints on the map and a list with
 * thumbnails, from which band combinations and index layers are added.
 */
import { useEffect, useState, type FormEvent } from "react";
import { useAuth, useCapabilities, useLayers, useMapHandle, useServices } from "../app/context";
import type { AOIPublic, ImageryFeature, ImageryFeatureCollection, ImageryPublic } from "../api/types";
import { COMBINATIONS, type Combination } from "../imagery/tiles";
import { imageryLayer, indexStyle } from "../layers/rasterLayers";
import { INDICES, type IndexName } from "../preview/indices";
import { DiscoverPanel } from "./DiscoverPanel";
import { ErrorNotice, Notice } from "../ui/Notice";
import { UploadForm } from "./UploadForm";
import { fitToFootprints } from "./footprints";
import { SearchFilters } from "./SearchFilters";

export const FOOTPRINTS_LAYER_ID = "search-footprints";

function Thumbnail({ imagery }: { imagery: Pick<ImageryPublic, "id" | "has_thumbnail" | "name"> }) {
  const { client } = useServices();
  const [src, setSrc] = useState<string | null>(null);
  useEffect(() => {
    if (!imagery.has_thumbnail) return;
    const abort = new AbortController();
    let url: string | null = null;
    client
      .thumbnail(imagery.id, abort.signal)
      .then((blob) => {
        url = URL.createObjectURL(blob);
        setSrc(url);
      })
      .catch(() => setSrc(null));
    return () => {
      abort.abort();
      if (url) URL.revokeObjectURL(url);
    };
  }, [client, imagery.id, imagery.has_thumbnail]);
  return src ? <img className="thumb" src={src} alt={`Thumbnail of ${imagery.name}`} /> : <div className="thumb thumb-empty" aria-hidden="true" />;
}

function ResultItem({ feature, tilesOffered }: { feature: ImageryFeature; tilesOffered: boolean }) {
  const { baseUrl, client } = useServices();
  const { dispatch } = useLayers();
  const handle = useMapHandle();
  const imagery = { ...feature.properties, geometry: feature.geometry } as unknown as ImageryPublic;
  const [index, setIndex] = useState<IndexName>("ndvi");
  const bounds = imagery.bbox as unknown as [number, number, number, number];

  function add(layer: ReturnType<typeof imageryLayer>) {
    if (!layer) return;
    dispatch({ type: "add", layer });
    handle?.map.fitBounds(bounds, { padding: 40, duration: 0 });
  }
  const combination = (c: Combination) => imageryLayer(baseUrl, imagery, { kind: "combination", combination: c });

  async function addQuicklook() {
    const bitmap = await createImageBitmap(await client.thumbnail(imagery.id));
    dispatch({ type: "add", layer: { id: `${imagery.id}:quicklook`, title: `${imagery.name} · quicklook`, kind: "quicklook", visible: true, opacity: 1, bitmap, bounds, time: imagery.acquired_at } });
  }
  const meta = [imagery.acquired_at?.slice(0, 10) ?? "undated", imagery.collection, imagery.cloud_cover === null ? null : `cloud ${imagery.cloud_cover}%`, imagery.status];

  return (
    <li className="result" data-testid="search-result">
      <Thumbnail imagery={imagery} />
      <div className="grow">
        <button className="link" onClick={() => handle?.map.fitBounds(bounds, { padding: 40, duration: 500 })}>
          {imagery.name}
        </button>
        <div className="muted">{meta.filter(Boolean).join(" · ")}</div>
        {imagery.has_thumbnail ? (
          <button onClick={() => void addQuicklook()} title="Show the scene's thumbnail stretched over its bounds (approximate placement)">
            Quicklook on the map
          </button>
        ) : null}
        {imagery.status === "ready" && tilesOffered ? (
          <div className="row wrap">
            {(Object.keys(COMBINATIONS) as Combination[]).map((c) => (
              <button key={c} disabled={!combination(c)} onClick={() => add(combination(c))} title={COMBINATIONS[c].label}>
                {COMBINATIONS[c].label.split(" (")[0]}
              </button>
            ))}
            <select value={index} onChange={(e) => setIndex(e.target.value as IndexName)} aria-label="Index">
              {(Object.keys(INDICES) as IndexName[]).map((n) => (
                <option key={n} value={n}>
                  {n.toUpperCase()}
                </option>
              ))}
            </select>
            <button disabled={!imageryLayer(baseUrl, imagery, indexStyle(index))} onClick={() => add(imageryLayer(baseUrl, imagery, indexStyle(index)))}>
              Add index
            </button>
          </div>
        ) : null}
      </div>
    </li>
  );
}

export function SearchPanel({ onResults }: { onResults?: (results: ImageryFeature[]) => void }) {
  const { client } = useServices();
  const auth = useAuth();
  const capabilities = useCapabilities();
  const handle = useMapHandle();
  const { dispatch } = useLayers();
  const [start, setStart] = useState("");
  const [end, setEnd] = useState("");
  const [maxCloud, setMaxCloud] = useState(100);
  const [area, setArea] = useState<"extent" | "anywhere" | string>("extent");
  const [aois, setAois] = useState<AOIPublic[]>([]);
  const [results, setResults] = useState<ImageryFeatureCollection | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const offered = capabilities?.has("get", "/imagery/search") ?? true;
  const tilesOffered = capabilities?.has("get", "/imagery/{id}/{tileMatrixSetId}/tilejson.json") ?? false;
  const [mode, setMode] = useState<"catalog" | "discover">("catalog");
  const signedIn = auth.status === "signed-in";

  useEffect(() => {
    if (!signedIn || !(capabilities?.has("get", "/aois") ?? true)) return;
    client.listAois({ limit: 500 }).then(setAois, () => setAois([]));
  }, [client, signedIn, auth.scope, capabilities]);

  useEffect(() => {
    setResults(null);
    dispatch({ type: "remove", id: FOOTPRINTS_LAYER_ID });
  }, [auth.scope, dispatch]);

  async function search(event?: FormEvent, cursor?: string) {
    event?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const bounds = handle?.map.getBounds();
      const datetime = start || end ? `${start || ".."}/${end || ".."}` : undefined;
      const found = await client.searchImagery({
        ...(area === "extent" && bounds ? { bbox: [Math.max(-180, bounds.getWest()), Math.max(-90, bounds.getSouth()), Math.min(180, bounds.getEast()), Math.min(90, bounds.getNorth())] as const } : {}),
        ...(area !== "extent" && area !== "anywhere" ? { aoi_id: area } : {}),
        ...(datetime ? { datetime } : {}),
        ...(maxCloud < 100 ? { max_cloud: maxCloud } : {}),
        limit: 50,
        ...(cursor ? { cursor } : {}),
      });
      const merged = cursor && results ? { ...found, features: [...results.features, ...found.features] } : found;
      setResults(merged);
      onResults?.(merged.features);
      const withGeometry = merged.features.filter((f) => f.geometry);
      dispatch({ type: "add", layer: { id: FOOTPRINTS_LAYER_ID, title: "Search results (footprints)", kind: "footprints", visible: true, opacity: 1, features: { type: "FeatureCollection", features: withGeometry as GeoJSON.Feature[] } } });
      // Show where the scenes are; an empty result leaves the map where the user put it.
      if (handle) fitToFootprints(handle.map, merged.features);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  if (!offered) return <Notice kind="unavailable">This server does not offer imagery search yet.</Notice>;
  if (!signedIn) {
    return (
      <Notice kind="signed-out" action={<button onClick={() => auth.openDialog("sign-in")}>Sign in</button>}>
        Sign in to search your organisation’s imagery.
      </Notice>
    );
  }
  const switcher = (
    <div className="toolbar" role="tablist" aria-label="Where to search">
      <button role="tab" aria-selected={mode === "catalog"} onClick={() => setMode("catalog")}>
        Your catalog
      </button>
      <button role="tab" aria-selected={mode === "discover"} onClick={() => setMode("discover")}>
        Discover (STAC)
      </button>
    </div>
  );
  return (
    <>
    {switcher}
    <div hidden={mode !== "discover"}>
      <DiscoverPanel aois={aois} onIngested={() => void search()} />
    </div>
    <section className="panel" aria-label="Imagery search" hidden={mode !== "catalog"}>
      <form className="search-form" onSubmit={(e) => void search(e)}>
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
          <select value={area} onChange={(e) => setArea(e.target.value)}>
            <option value="extent">The map’s extent</option>
            <option value="anywhere">Anywhere</option>
            {aois.map((a) => (
              <option key={a.id} value={a.id}>
                Area: {a.name}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Searching…" : "Search"}
        </button>
      </form>
      <UploadForm onUploaded={() => void search()} />
      {error ? <ErrorNotice error={error} /> : null}
      {results === null ? null : results.features.length === 0 ? (
        <Notice kind="empty">
          No imagery matches. Widen the dates or the area, or add imagery first: upload a GeoTIFF or run <code>terrascan ingest</code>.
        </Notice>
      ) : (
        <>
          <p className="muted">{results.features.length} scenes</p>
          {!tilesOffered ? <Notice kind="unavailable">Map tiles are not available on this server yet, so scenes cannot be shown as layers.</Notice> : null}
          <ul className="results">
            {results.features.map((f) => (
              <ResultItem key={String(f.id)} feature={f} tilesOffered={tilesOffered} />
            ))}
          </ul>
          {results.next_cursor ? (
            <button onClick={() => void search(undefined, results.next_cursor!)} disabled={busy}>
              More
            </button>
          ) : null}
        </>
      )}
    </section>
    </>
  );
}
