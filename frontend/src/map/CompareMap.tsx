/** The second map of a comparison: same camera as the main map, only the right layer, over
 * the offline basemap. In swipe mode it lies over the main map, clipped at the divider. */
import { useEffect, useRef, useState } from "react";
import { Map as MapLibreMap, type GeoJSONSource } from "maplibre-gl";
import type { MapLayer } from "../layers/layerStore";
import { clampPosition, type CompareState } from "./compare";
import { COUNTRIES_SOURCE, loadCountries, offlineStyle } from "./offlineStyle";
import { syncRasterLayers } from "./rasterSync";
import type { RequestTransformFunction } from "maplibre-gl";

export function CompareMap(props: {
  main: MapLibreMap;
  layers: MapLayer[];
  state: CompareState;
  transformRequest: RequestTransformFunction;
  onPosition: (position: number) => void;
}) {
  const { main, layers, state, transformRequest, onPosition } = props;
  const container = useRef<HTMLDivElement>(null);
  const [map, setMap] = useState<MapLibreMap | null>(null);

  useEffect(() => {
    const second = new MapLibreMap({
      container: container.current!,
      style: offlineStyle(),
      center: main.getCenter(),
      zoom: main.getZoom(),
      bearing: main.getBearing(),
      pitch: main.getPitch(),
      attributionControl: false,
      transformRequest,
    });
    loadCountries()
      .then((fc) => (second.getSource(COUNTRIES_SOURCE) as GeoJSONSource | undefined)?.setData(fc))
      .catch(() => undefined);
    // One camera for both maps; a flag stops the echo of each move.
    let syncing = false;
    const follow = (from: MapLibreMap, to: MapLibreMap) => () => {
      if (syncing) return;
      syncing = true;
      to.jumpTo({ center: from.getCenter(), zoom: from.getZoom(), bearing: from.getBearing(), pitch: from.getPitch() });
      syncing = false;
    };
    const mainMoved = follow(main, second);
    const secondMoved = follow(second, main);
    main.on("move", mainMoved);
    second.on("move", secondMoved);
    second.once("load", () => setMap(second));
    return () => {
      main.off("move", mainMoved);
      second.off("move", secondMoved);
      setMap(null);
      second.remove();
    };
  }, [main, transformRequest]);

  useEffect(() => {
    if (!map) return;
    syncRasterLayers(map, layers);
  }, [map, layers]);

  // Both maps change size when the view switches between swipe and side by side.
  useEffect(() => {
    main.resize();
    map?.resize();
  }, [main, map, state.mode]);

  const swipe = state.mode === "swipe";
  const drag = (event: React.PointerEvent<HTMLDivElement>) => {
    const box = (event.currentTarget.parentElement as HTMLElement).getBoundingClientRect();
    event.currentTarget.setPointerCapture(event.pointerId);
    const move = (e: PointerEvent) => onPosition(clampPosition((e.clientX - box.left) / box.width));
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  };
  return (
    <>
      <div
        ref={container}
        className={swipe ? "map compare-map compare-swipe" : "map compare-map compare-side"}
        data-testid="compare-map"
        data-ready={map ? "true" : "false"}
        style={swipe ? { clipPath: `inset(0 0 0 ${state.position * 100}%)` } : undefined}
      />
      {swipe ? (
        <div
          className="swipe-divider"
          data-testid="swipe-divider"
          style={{ left: `${state.position * 100}%` }}
          onPointerDown={drag}
          role="slider"
          aria-label="Swipe position"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(state.position * 100)}
          tabIndex={0}
          onKeyDown={(e) => {
            if (e.key === "ArrowLeft") onPosition(clampPosition(state.position - 0.05));
            if (e.key === "ArrowRight") onPosition(clampPosition(state.position + 0.05));
          }}
        />
      ) : (
        <div className="side-divider" aria-hidden="true" />
      )}
    </>
  );
}
