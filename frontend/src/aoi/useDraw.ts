/**
 * terra-draw on the map: polygon, rectangle and circle drawing and a select mode for editing.
 * The drawn shapes survive basemap switches (terra-draw's layers live in the style, so they
 * are put back after each style load).
 */
import { useCallback, useEffect, useRef, useState } from "react";
import {
  TerraDraw,
  TerraDrawCircleMode,
  TerraDrawPolygonMode,
  TerraDrawRectangleMode,
  TerraDrawRenderMode,
  TerraDrawSelectMode,
  type GeoJSONStoreFeatures,
} from "terra-draw";
import { TerraDrawMapLibreGLAdapter } from "terra-draw-maplibre-gl-adapter";
import type { Polygon } from "geojson";
import type { MapHandle } from "../app/context";

export type DrawMode = "polygon" | "rectangle" | "circle" | "select" | "static";

export interface DrawnShape {
  id: string;
  mode: string;
  geometry: Polygon;
}

const EDITABLE = { feature: { draggable: true, coordinates: { draggable: true, midpoints: true, deletable: true } } };
const AMBER = "#d97706";

function createDraw(handle: MapHandle): TerraDraw {
  const shapeStyle = { fillColor: "#f59e0b", outlineColor: AMBER, fillOpacity: 0.25, outlineWidth: 2 } as const;
  return new TerraDraw({
    adapter: new TerraDrawMapLibreGLAdapter({ map: handle.map, coordinatePrecision: 9 }),
    modes: [
      new TerraDrawPolygonMode({ styles: { ...shapeStyle, closingPointColor: AMBER, editedPointColor: AMBER } }),
      new TerraDrawRectangleMode({ styles: shapeStyle }),
      new TerraDrawCircleMode({ styles: shapeStyle }),
      new TerraDrawSelectMode({ flags: { polygon: EDITABLE, rectangle: EDITABLE, circle: EDITABLE } }),
      new TerraDrawRenderMode({ modeName: "static", styles: {} }),
    ],
  });
}

function shapesOf(draw: TerraDraw): DrawnShape[] {
  return draw
    .getSnapshot()
    .filter((f) => f.geometry.type === "Polygon" && ["polygon", "rectangle", "circle", "static"].includes(String(f.properties.mode)))
    .map((f) => ({ id: String(f.id), mode: String(f.properties.mode), geometry: f.geometry as Polygon }));
}

export function useDraw(handle: MapHandle | null) {
  const drawRef = useRef<TerraDraw | null>(null);
  const [mode, setModeState] = useState<DrawMode>("static");
  // While a drawing tool is active, clicks on the map draw: deck.gl's popups stay shut.
  useEffect(() => {
    document.body.dataset.drawing = mode === "static" ? "false" : "true";
  }, [mode]);
  const [shapes, setShapes] = useState<DrawnShape[]>([]);

  useEffect(() => {
    if (!handle) return;
    const { map } = handle;
    let draw: TerraDraw | null = null;
    let saved: GeoJSONStoreFeatures[] = [];
    const refresh = () => draw && setShapes(shapesOf(draw));
    const start = () => {
      draw = createDraw(handle);
      draw.start();
      if (saved.length) draw.addFeatures(saved);
      draw.on("finish", refresh);
      draw.on("change", (_ids, type) => type !== "styling" && refresh());
      drawRef.current = draw;
      setModeState("static");
      draw.setMode("static");
      refresh();
    };
    const restart = () => {
      if (!draw) return start();
      saved = draw.getSnapshot().filter((f) => f.geometry.type === "Polygon" && !f.properties.selected);
      try {
        draw.stop();
      } catch {
        // the old style's layers are already gone
      }
      start();
    };
    if (map.isStyleLoaded()) start();
    else map.once("load", start);
    map.on("style.load", restart);
    return () => {
      map.off("style.load", restart);
      map.off("load", start);
      try {
        draw?.stop();
      } catch {
        // the map is going away
      }
      drawRef.current = null;
    };
  }, [handle]);

  const setMode = useCallback((next: DrawMode) => {
    drawRef.current?.setMode(next);
    setModeState(next);
  }, []);

  const remove = useCallback((id: string) => {
    const draw = drawRef.current;
    if (!draw) return;
    if (draw.getMode() === "select") draw.setMode("static");
    draw.removeFeatures([id]);
    setShapes(shapesOf(draw));
    setModeState(draw.getMode() as DrawMode);
  }, []);

  /** Put a saved area's polygon into the drawing to edit it; returns the drawing's id. */
  const edit = useCallback((geometry: Polygon): string | null => {
    const draw = drawRef.current;
    if (!draw) return null;
    const id = crypto.randomUUID();
    const [result] = draw.addFeatures([{ id, type: "Feature", geometry, properties: { mode: "polygon" } }]);
    if (!result?.valid) return null;
    draw.setMode("select");
    setModeState("select");
    draw.selectFeature(id);
    setShapes(shapesOf(draw));
    return id;
  }, []);

  return { mode, setMode, shapes, remove, edit };
}
