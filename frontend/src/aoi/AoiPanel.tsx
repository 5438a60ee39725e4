/**
 * Areas of interest: draw (polygon, rectangle, circle), name and save to `/aois`, list, zoom
 * to, edit the shape, delete. Drawing works signed out too; saving says what it needs.
 */
import { useCallback, useEffect, useState } from "react";
import type { FeatureCollection } from "geojson";
import { useAuth, useCapabilities, useLayers, useMapHandle, useServices } from "../app/context";
import type { AOIPublic } from "../api/types";
import { ErrorNotice, Notice } from "../ui/Notice";
import { AoiGeometryError, bboxOf, toAoiPolygon } from "./geometry";
import { useDraw, type DrawMode, type DrawnShape } from "./useDraw";

const TOOLS: { mode: DrawMode; label: string; hint: string }[] = [
  { mode: "polygon", label: "Polygon", hint: "Click to add corners; click the first corner to finish" },
  { mode: "rectangle", label: "Rectangle", hint: "Click two opposite corners" },
  { mode: "circle", label: "Circle", hint: "Click the centre, then click at the radius" },
  { mode: "select", label: "Edit", hint: "Select a shape to move it or drag its corners" },
  { mode: "static", label: "Pan", hint: "Stop drawing" },
];

export const AOI_LAYER_ID = "aois";

function aoiFeatures(aois: readonly AOIPublic[], hidden: ReadonlySet<string>): FeatureCollection {
  return {
    type: "FeatureCollection",
    features: aois
      .filter((a) => !hidden.has(a.id))
      .map((a) => ({
        type: "Feature",
        id: a.id,
        geometry: a.geometry as unknown as GeoJSON.Polygon,
        properties: { name: a.name, area_km2: a.area_km2, created_at: a.created_at },
      })),
  };
}

function UnsavedShape({ shape, canSave, onSave, onDiscard }: { shape: DrawnShape; canSave: boolean; onSave: (name: string) => Promise<void>; onDiscard: () => void }) {
  const [name, setName] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  let problem: string | null = null;
  try {
    toAoiPolygon(shape.geometry);
  } catch (caught) {
    if (caught instanceof AoiGeometryError) problem = caught.message;
  }
  async function save() {
    setBusy(true);
    setError(null);
    try {
      await onSave(name.trim());
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }
  return (
    <li className="unsaved" data-testid="unsaved-shape">
      <div className="row">
        <input placeholder={`Name this ${shape.mode === "static" ? "shape" : shape.mode}`} value={name} onChange={(e) => setName(e.target.value)} aria-label="Area name" maxLength={200} />
        <button className="primary" disabled={!canSave || busy || !name.trim() || problem !== null} onClick={() => void save()}>
          Save
        </button>
        <button onClick={onDiscard}>Discard</button>
      </div>
      {problem ? <Notice kind="error">{problem}</Notice> : null}
      {error ? <ErrorNotice error={error} /> : null}
    </li>
  );
}

export function AoiPanel() {
  const handle = useMapHandle();
  const { client } = useServices();
  const auth = useAuth();
  const capabilities = useCapabilities();
  const { dispatch } = useLayers();
  const draw = useDraw(handle);
  const [aois, setAois] = useState<AOIPublic[] | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [editing, setEditing] = useState<Map<string, string>>(new Map()); // drawing id -> AOI id
  const [actionError, setActionError] = useState<unknown>(null);

  const offered = capabilities?.has("get", "/aois") ?? true;
  const signedIn = auth.status === "signed-in";

  const load = useCallback(async () => {
    setLoadError(null);
    try {
      setAois(await client.listAois({ limit: 500 }));
    } catch (caught) {
      setLoadError(caught);
    }
  }, [client]);

  useEffect(() => {
    if (signedIn && offered) void load();
    else if (auth.status === "signed-out") setAois(null);
  }, [auth.scope, signedIn, offered, load, auth.status]);

  // Saved areas are a layer on the map (the one being edited is drawn by terra-draw instead).
  useEffect(() => {
    if (!aois) {
      dispatch({ type: "remove", id: AOI_LAYER_ID });
      return;
    }
    const hidden = new Set(editing.values());
    dispatch({ type: "add", layer: { id: AOI_LAYER_ID, title: "Areas of interest", kind: "aois", visible: true, opacity: 1, features: aoiFeatures(aois, hidden) } });
  }, [aois, editing, dispatch]);

  const unsaved = draw.shapes.filter((s) => !editing.has(s.id));
  const edited = draw.shapes.filter((s) => editing.has(s.id));

  async function saveNew(shape: DrawnShape, name: string) {
    const aoi = await client.createAoi({ name, geometry: toAoiPolygon(shape.geometry) as never, description: "" });
    draw.remove(shape.id);
    setAois((list) => [aoi, ...(list ?? [])]);
  }

  async function saveShape(shape: DrawnShape) {
    const aoiId = editing.get(shape.id)!;
    setActionError(null);
    try {
      const aoi = await client.updateAoi(aoiId, { geometry: toAoiPolygon(shape.geometry) as never });
      setAois((list) => (list ?? []).map((a) => (a.id === aoi.id ? aoi : a)));
      stopEditing(shape.id);
    } catch (caught) {
      setActionError(caught);
    }
  }

  function stopEditing(drawId: string) {
    draw.remove(drawId);
    setEditing((m) => {
      const next = new Map(m);
      next.delete(drawId);
      return next;
    });
  }

  function startEditing(aoi: AOIPublic) {
    const id = draw.edit(aoi.geometry as unknown as GeoJSON.Polygon);
    if (id) setEditing((m) => new Map(m).set(id, aoi.id));
  }

  async function remove(aoi: AOIPublic) {
    if (!window.confirm(`Delete the area "${aoi.name}"?`)) return;
    setActionError(null);
    try {
      await client.deleteAoi(aoi.id);
      setAois((list) => (list ?? []).filter((a) => a.id !== aoi.id));
    } catch (caught) {
      setActionError(caught);
    }
  }

  function zoomTo(aoi: AOIPublic) {
    const [w, s, e, n] = aoi.bbox.length === 4 ? (aoi.bbox as [number, number, number, number]) : bboxOf(aoi.geometry as unknown as GeoJSON.Polygon);
    handle?.map.fitBounds([w, s, e, n], { padding: 60, maxZoom: 14, duration: 600 });
  }

  const hint = TOOLS.find((t) => t.mode === draw.mode)?.hint;
  return (
    <section className="panel" aria-label="Areas of interest">
      <div className="toolbar" role="toolbar" aria-label="Drawing tools">
        {TOOLS.map((tool) => (
          <button key={tool.mode} aria-pressed={draw.mode === tool.mode} title={tool.hint} onClick={() => draw.setMode(tool.mode)} data-tool={tool.mode}>
            {tool.label}
          </button>
        ))}
      </div>
      {hint && draw.mode !== "static" ? <p className="hint">{hint}</p> : null}

      {unsaved.length > 0 ? (
        <>
          <h3>New areas</h3>
          {!offered ? <Notice kind="unavailable">This server does not store areas of interest yet.</Notice> : null}
          {offered && !signedIn ? (
            <Notice kind="signed-out" action={<button onClick={() => auth.openDialog("sign-in")}>Sign in</button>}>
              Sign in to save your areas. They stay drawn meanwhile.
            </Notice>
          ) : null}
          <ul className="plain">
            {unsaved.map((shape) => (
              <UnsavedShape key={shape.id} shape={shape} canSave={signedIn && offered} onSave={(name) => saveNew(shape, name)} onDiscard={() => draw.remove(shape.id)} />
            ))}
          </ul>
        </>
      ) : null}

      {edited.map((shape) => (
        <div key={shape.id} className="row editing">
          <span className="grow">Editing “{aois?.find((a) => a.id === editing.get(shape.id))?.name}”</span>
          <button className="primary" onClick={() => void saveShape(shape)}>
            Save shape
          </button>
          <button onClick={() => stopEditing(shape.id)}>Cancel</button>
        </div>
      ))}

      <h3>Saved areas</h3>
      {actionError ? <ErrorNotice error={actionError} /> : null}
      {!offered ? (
        <Notice kind="unavailable">This server does not store areas of interest yet.</Notice>
      ) : !signedIn ? (
        <Notice kind="signed-out" action={<button onClick={() => auth.openDialog("sign-in")}>Sign in</button>}>
          Sign in to see your organisation’s areas.
        </Notice>
      ) : loadError ? (
        <ErrorNotice error={loadError} action={<button onClick={() => void load()}>Retry</button>} />
      ) : aois === null ? (
        <Notice kind="loading">Loading areas…</Notice>
      ) : aois.length === 0 ? (
        <Notice kind="empty">No areas yet. Draw one with the tools above.</Notice>
      ) : (
        <ul className="aoi-list" data-testid="aoi-list">
          {aois.map((aoi) => (
            <li key={aoi.id}>
              <button className="link grow" onClick={() => zoomTo(aoi)} title="Zoom to this area">
                {aoi.name}
              </button>
              <span className="muted">{aoi.area_km2 < 10 ? aoi.area_km2.toFixed(2) : Math.round(aoi.area_km2).toLocaleString()} km²</span>
              <button onClick={() => startEditing(aoi)} disabled={[...editing.values()].includes(aoi.id)}>
                Edit
              </button>
              <button onClick={() => void remove(aoi)} aria-label={`Delete ${aoi.name}`}>
                Delete
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
