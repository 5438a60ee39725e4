/**
 * The map: MapLibre GL for the basemap and raster tiles, a deck.gl overlay for what TerraScan
 * draws from data (footprints, areas, result polygons, the index preview). Requests to the API
 * (tiles) carry the session's token through `transformRequest`.
 */
import { useEffect, useMemo, useRef, useState } from "react";
import {
  Map as MapLibreMap,
  NavigationControl,
  ScaleControl,
  setWorkerUrl,
  type GeoJSONSource,
  type MapMouseEvent,
  type RequestTransformFunction,
  type StyleSpecification,
} from "maplibre-gl";
import { MapboxOverlay } from "@deck.gl/mapbox";
import "maplibre-gl/dist/maplibre-gl.css";
import { useLayers, useMapHandle, useServices, useSetMapHandle } from "../app/context";
import type { BasemapChoice } from "./basemaps";
import { deckLayers, type PickInfo } from "./deckLayers";
import { COUNTRIES_SOURCE, loadCountries, offlineStyle } from "./offlineStyle";
import { syncRasterLayers } from "./rasterSync";
import { isApiRequest } from "./auth";
import { CompareMap } from "./CompareMap";
import { compareLayers, NO_COMPARE, type CompareState } from "./compare";
import { applyTimeline, type TimeWindow } from "../timeline/timeline";
import type { FeatureCollection } from "geojson";
// MapLibre's worker is a separate, self-contained file; Vite copies it next to the bundle.
import workerUrl from "maplibre-gl/dist/maplibre-gl-worker.mjs?url";

setWorkerUrl(workerUrl);

export interface MapViewProps {
  basemap: BasemapChoice;
  onBasemapError?: (message: string) => void;
  /** The days shown (the timeline); null: all. */
  timeWindow?: TimeWindow | null;
  compare?: CompareState;
  onCompare?: (state: CompareState) => void;
}

function Coordinates({ map }: { map: MapLibreMap }) {
  const [text, setText] = useState("Move the pointer over the map");
  const [zoom, setZoom] = useState(map.getZoom());
  useEffect(() => {
    let frame = 0;
    const move = (event: MapMouseEvent) => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => {
        const { lng, lat } = event.lngLat.wrap();
        setText(`${lat.toFixed(5)}°, ${lng.toFixed(5)}°`);
      });
    };
    const zoomed = () => setZoom(map.getZoom());
    map.on("mousemove", move);
    map.on("zoom", zoomed);
    return () => {
      cancelAnimationFrame(frame);
      map.off("mousemove", move);
      map.off("zoom", zoomed);
    };
  }, [map]);
  return (
    <div className="map-coordinates" data-testid="coordinates" title="Latitude, longitude (WGS 84) and zoom">
      {text} · z{zoom.toFixed(1)}
    </div>
  );
}

function Popup({ pick, onClose }: { pick: PickInfo; onClose: () => void }) {
  const entries = Object.entries(pick.properties).filter(([, v]) => v === null || typeof v !== "object");
  return (
    <div className="map-popup" style={{ left: pick.x, top: pick.y }} role="dialog" aria-label={pick.title}>
      <button className="close" onClick={onClose} aria-label="Close">
        ×
      </button>
      <strong>{pick.title}</strong>
      <table>
        <tbody>
          {entries.slice(0, 14).map(([key, value]) => (
            <tr key={key}>
              <th>{key}</th>
              <td>{typeof value === "number" ? Number(value.toPrecision(6)) : String(value ?? "—")}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function MapView({ basemap, onBasemapError, timeWindow = null, compare = NO_COMPARE, onCompare }: MapViewProps) {
  const container = useRef<HTMLDivElement>(null);
  const countries = useRef<FeatureCollection | null>(null);
  const applied = useRef<string>(JSON.stringify(basemap));
  const initial = useRef<BasemapChoice>(basemap);
  const { session, client, baseUrl } = useServices();
  const setHandle = useSetMapHandle();
  const handle = useMapHandle();
  const { layers: panelLayers } = useLayers();
  const [pick, setPick] = useState<PickInfo | null>(null);
  const [ready, setReady] = useState(false);
  const { main: layers, second } = useMemo(() => compareLayers(applyTimeline(panelLayers, timeWindow), compare), [panelLayers, timeWindow, compare]);

  // Requests to this server's API (TileJSON, tiles) carry the session's token and organisation;
  // nothing else does (an online basemap never sees the token).
  const transformRequest = useMemo<RequestTransformFunction>(
    () => async (url: string) => {
      if (!isApiRequest(url, baseUrl, window.location.origin)) return { url };
      await session.freshAccessToken().catch(() => null);
      return { url, headers: client.authHeaders() };
    },
    [baseUrl, client, session],
  );

  // Create the map once.
  useEffect(() => {
    const map = new MapLibreMap({
      container: container.current!,
      style: initial.current.kind === "online" ? initial.current.url : offlineStyle(),
      center: [10, 30],
      zoom: 1.6,
      attributionControl: { compact: true },
      transformRequest,
    });
    map.addControl(new NavigationControl({ visualizePitch: true }), "top-right");
    map.addControl(new ScaleControl({ unit: "metric", maxWidth: 120 }), "bottom-right");
    const overlay = new MapboxOverlay({ interleaved: false, layers: [] });
    map.addControl(overlay);
    map.once("load", () => setReady(true));
    setHandle({ map, overlay });
    // For the browser journeys and the console: the map instance (read-only use).
    (window as unknown as { __terrascan?: { map: MapLibreMap } }).__terrascan = { map };
    loadCountries()
      .then((fc) => {
        countries.current = fc;
        const source = map.getSource(COUNTRIES_SOURCE) as GeoJSONSource | undefined;
        source?.setData(fc);
      })
      .catch((error: unknown) => console.warn("country outlines unavailable", error));
    return () => {
      setHandle(null);
      map.remove();
    };
  }, [transformRequest, setHandle]);

  // Basemap: the offline style, or an online style by URL.
  useEffect(() => {
    const key = JSON.stringify(basemap);
    if (!handle || key === applied.current) return;
    applied.current = key;
    const { map } = handle;
    const style: StyleSpecification | string = basemap.kind === "online" ? basemap.url : offlineStyle(countries.current ?? undefined);
    const failed = (event: { error?: { message?: string } }) => onBasemapError?.(`The style could not be loaded: ${event.error?.message ?? "unknown error"}`);
    map.on("error", failed);
    map.setStyle(style, { diff: false });
    return () => {
      map.off("error", failed);
    };
  }, [handle, basemap, onBasemapError]);

  // Raster layers (imagery, indices, results) live in the style; re-add them after a style change.
  useEffect(() => {
    if (!handle) return;
    const { map } = handle;
    const sync = () => syncRasterLayers(map, layers);
    if (map.isStyleLoaded()) sync();
    map.on("style.load", sync);
    return () => {
      map.off("style.load", sync);
    };
  }, [handle, layers]);

  // Vector and bitmap layers go to deck.gl, which survives style changes on its own.
  useEffect(() => {
    handle?.overlay.setProps({ layers: deckLayers(layers, setPick) });
  }, [handle, layers]);

  useEffect(() => {
    if (compare.mode === "off") handle?.map.resize();
  }, [handle, compare.mode]);

  const side = compare.mode === "side" && second.length > 0;
  return (
    <div className="map-wrap" data-compare={compare.mode}>
      <div ref={container} className={side ? "map map-left" : "map"} data-testid="map" data-ready={ready ? "true" : "false"} />
      {handle && compare.mode !== "off" && second.length > 0 ? (
        <CompareMap main={handle.map} layers={second} state={compare} transformRequest={transformRequest} onPosition={(position) => onCompare?.({ ...compare, position })} />
      ) : null}
      {handle ? <Coordinates map={handle.map} /> : null}
      {pick ? <Popup pick={pick} onClose={() => setPick(null)} /> : null}
    </div>
  );
}
