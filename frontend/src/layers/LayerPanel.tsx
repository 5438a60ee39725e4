/** The layer panel: basemap, then TerraScan's layers (top-most first) with visibility,
 * opacity, order and legends. */
import { useState } from "react";
import { useLayers, useMapHandle } from "../app/context";
import { COMBINATIONS, combinationBands, type Combination } from "../imagery/tiles";
import type { CompareMode, CompareState } from "../map/compare";
import { isTiled } from "../map/rasterSync";
import { RAMPS, type RampName } from "../preview/colormap";
import { legendFor, styleLabel } from "./rasterLayers";
import { BUILD_STYLE_URL, isStyleUrl, type BasemapChoice } from "../map/basemaps";
import { Notice } from "../ui/Notice";
import { cssGradient } from "../preview/colormap";
import type { Legend, MapLayer } from "./layerStore";

export function LegendBar({ legend }: { legend: Legend }) {
  return (
    <div className="legend" data-testid="legend">
      <div className="legend-bar" style={{ background: cssGradient(legend.ramp) }} />
      <div className="legend-labels">
        <span>{legend.range[0]}</span>
        <span>{legend.label}</span>
        <span>{legend.range[1]}</span>
      </div>
    </div>
  );
}

function BasemapPicker({ basemap, onChange, error }: { basemap: BasemapChoice; onChange: (b: BasemapChoice) => void; error: string | null }) {
  const [url, setUrl] = useState(basemap.kind === "online" ? basemap.url : BUILD_STYLE_URL);
  const valid = isStyleUrl(url);
  return (
    <fieldset className="basemap">
      <legend>Basemap</legend>
      <label>
        <input type="radio" name="basemap" checked={basemap.kind === "offline"} onChange={() => onChange({ kind: "offline" })} />
        Plain (offline: countries and graticule, no internet needed)
      </label>
      <label>
        <input
          type="radio"
          name="basemap"
          checked={basemap.kind === "online"}
          disabled={!valid}
          onChange={() => onChange({ kind: "online", url })}
        />
        Online style
      </label>
      <div className="row">
        <input
          type="url"
          placeholder="https://…/style.json"
          value={url}
          onChange={(e) => setUrl(e.target.value)}
          aria-label="MapLibre style URL"
        />
        <button disabled={!valid} onClick={() => onChange({ kind: "online", url })}>
          Use
        </button>
      </div>
      {error && basemap.kind === "online" ? <Notice kind="error">{error}</Notice> : null}
    </fieldset>
  );
}

function StyleControls({ layer }: { layer: MapLayer }) {
  const { dispatch } = useLayers();
  const raster = layer.raster;
  if (!raster) return null;
  const { style } = raster;
  if (style.kind === "combination" && raster.imagery) {
    const imagery = raster.imagery;
    return (
      <label className="style">
        Bands
        <select
          value={style.combination}
          aria-label={`Band combination of ${layer.title}`}
          onChange={(e) => {
            const next = { kind: "combination", combination: e.target.value as Combination } as const;
            dispatch({ type: "style", id: layer.id, style: next, title: layer.title.replace(/ · [^·]+$/, ` · ${styleLabel(next)}`) });
          }}
        >
          {(Object.keys(COMBINATIONS) as Combination[]).map((c) => (
            <option key={c} value={c} disabled={!combinationBands(imagery, c)}>
              {COMBINATIONS[c].label}
            </option>
          ))}
        </select>
      </label>
    );
  }
  if (style.kind === "index") {
    return (
      <label className="style">
        Colour map
        <select
          value={style.colormap}
          aria-label={`Colour map of ${layer.title}`}
          onChange={(e) => {
            const next = { ...style, colormap: e.target.value as RampName };
            dispatch({ type: "style", id: layer.id, style: next, legend: legendFor(next) });
          }}
        >
          {RAMPS.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </label>
    );
  }
  return (
    <div className="legend-mask">
      <span className="swatch" style={{ background: "rgb(250,204,21)" }} /> changed <span className="swatch swatch-empty" /> unchanged (transparent)
    </div>
  );
}

function ComparePicker({ layers, state, onChange }: { layers: readonly MapLayer[]; state: CompareState; onChange: (s: CompareState) => void }) {
  const tiled = layers.filter(isTiled);
  const pick = (side: "left" | "right") => (
    <select value={state[side] ?? ""} aria-label={side === "left" ? "Compare: left (before)" : "Compare: right (after)"} onChange={(e) => onChange({ ...state, [side]: e.target.value || null })}>
      <option value="">{side === "left" ? "Left: everything else" : "Right: choose a layer…"}</option>
      {tiled.map((l) => (
        <option key={l.id} value={l.id}>
          {l.title}
        </option>
      ))}
    </select>
  );
  return (
    <fieldset className="compare" data-testid="compare">
      <legend>Compare</legend>
      {tiled.length < 2 ? <p className="muted">Add two image layers (two dates, or a scene and a result) to compare them.</p> : null}
      <div className="row wrap" role="radiogroup" aria-label="Compare mode">
        {(
          [
            ["off", "Off"],
            ["swipe", "Swipe"],
            ["side", "Side by side"],
          ] as [CompareMode, string][]
        ).map(([mode, label]) => (
          <label key={mode}>
            <input type="radio" name="compare-mode" checked={state.mode === mode} disabled={mode !== "off" && tiled.length < 2} onChange={() => onChange({ ...state, mode })} />
            {label}
          </label>
        ))}
      </div>
      {state.mode !== "off" ? (
        <div className="compare-pick">
          {pick("left")}
          {pick("right")}
        </div>
      ) : null}
    </fieldset>
  );
}

export function LayerPanel(props: {
  basemap: BasemapChoice;
  onBasemap: (b: BasemapChoice) => void;
  basemapError: string | null;
  compare: CompareState;
  onCompare: (s: CompareState) => void;
}) {
  const { layers, dispatch } = useLayers();
  const handle = useMapHandle();
  return (
    <section className="panel" aria-label="Layers">
      <BasemapPicker basemap={props.basemap} onChange={props.onBasemap} error={props.basemapError} />
      <h3>Layers</h3>
      {layers.length === 0 ? (
        <Notice kind="empty">No layers yet. Search imagery, draw an area or preview an index to add some.</Notice>
      ) : (
        <ul className="layer-list" data-testid="layer-list">
          {layers.map((layer, i) => (
            <li key={layer.id} className="layer" data-layer={layer.id} data-kind={layer.kind}>
              <div className="row">
                <label className="grow">
                  <input type="checkbox" checked={layer.visible} onChange={() => dispatch({ type: "toggle", id: layer.id })} />
                  <span className="title" title={layer.title}>
                    {layer.title}
                  </span>
                </label>
                {layer.bounds ? (
                  <button title="Zoom to" aria-label={`Zoom to ${layer.title}`} onClick={() => handle?.map.fitBounds([...layer.bounds!] as [number, number, number, number], { padding: 40, duration: 0 })}>
                    Zoom
                  </button>
                ) : null}
                <button title="Move up" aria-label={`Move ${layer.title} up`} disabled={i === 0} onClick={() => dispatch({ type: "move", id: layer.id, by: -1 })}>
                  ↑
                </button>
                <button
                  title="Move down"
                  aria-label={`Move ${layer.title} down`}
                  disabled={i === layers.length - 1}
                  onClick={() => dispatch({ type: "move", id: layer.id, by: 1 })}
                >
                  ↓
                </button>
                <button title="Remove" aria-label={`Remove ${layer.title}`} onClick={() => dispatch({ type: "remove", id: layer.id })}>
                  ×
                </button>
              </div>
              <label className="opacity">
                Opacity
                <input
                  type="range"
                  min={0}
                  max={1}
                  step={0.05}
                  value={layer.opacity}
                  onChange={(e) => dispatch({ type: "opacity", id: layer.id, opacity: Number(e.target.value) })}
                />
              </label>
              <StyleControls layer={layer} />
              {layer.legend ? <LegendBar legend={layer.legend} /> : null}
            </li>
          ))}
        </ul>
      )}
      <ComparePicker layers={layers} state={props.compare} onChange={props.onCompare} />
    </section>
  );
}
