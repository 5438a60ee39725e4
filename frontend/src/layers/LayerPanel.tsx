/** The layer panel: basemap, then TerraScan's layers (top-most first) with visibility,
 * opacity, order and legends. */
import { useState } from "react";
import { useLayers } from "../app/context";
import { BUILD_STYLE_URL, isStyleUrl, type BasemapChoice } from "../map/basemaps";
import { Notice } from "../ui/Notice";
import { cssGradient } from "../preview/colormap";
import type { Legend } from "./layerStore";

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

export function LayerPanel(props: { basemap: BasemapChoice; onBasemap: (b: BasemapChoice) => void; basemapError: string | null }) {
  const { layers, dispatch } = useLayers();
  return (
    <section className="panel" aria-label="Layers">
      <BasemapPicker basemap={props.basemap} onChange={props.onBasemap} error={props.basemapError} />
      <h3>Layers</h3>
      {layers.length === 0 ? (
        <Notice kind="empty">No layers yet. Search imagery, draw an area or preview an index to add some.</Notice>
      ) : (
        <ul className="layer-list" data-testid="layer-list">
          {layers.map((layer, i) => (
            <li key={layer.id} className="layer">
              <div className="row">
                <label className="grow">
                  <input type="checkbox" checked={layer.visible} onChange={() => dispatch({ type: "toggle", id: layer.id })} />
                  <span className="title" title={layer.title}>
                    {layer.title}
                  </span>
                </label>
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
              {layer.legend ? <LegendBar legend={layer.legend} /> : null}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
