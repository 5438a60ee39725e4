/** The shell: header (brand, organisation, account), side panels, the map. */
import { useCallback, useMemo, useState } from "react";
import { AnalysisPanel } from "./analysis/AnalysisPanel";
import { AoiPanel } from "./aoi/AoiPanel";
import { AuthProvider, LayersProvider, MapProvider, ServicesProvider, useCapabilities } from "./app/context";
import { createServices } from "./app/services";
import { AccountBar } from "./auth/AccountBar";
import { SignInDialog } from "./auth/SignInDialog";
import type { ImageryFeature } from "./api/types";
import { LayerPanel } from "./layers/LayerPanel";
import { loadBasemap, saveBasemap, type BasemapChoice } from "./map/basemaps";
import { MapView } from "./map/MapView";
import { PreviewPanel } from "./preview/PreviewPanel";
import { SearchPanel } from "./search/SearchPanel";
import { StatsPanel } from "./stats/StatsPanel";
import { NO_COMPARE, type CompareState } from "./map/compare";
import { Timeline } from "./timeline/Timeline";
import type { TimeWindow } from "./timeline/timeline";

const TABS = [
  { id: "layers", label: "Layers" },
  { id: "search", label: "Search" },
  { id: "areas", label: "Areas" },
  { id: "analysis", label: "Analysis" },
  { id: "stats", label: "Statistics" },
  { id: "preview", label: "Preview" },
] as const;
type Tab = (typeof TABS)[number]["id"];

function ServerNotice() {
  const capabilities = useCapabilities();
  if (!capabilities || capabilities.known) return null;
  return <div className="banner">The server’s API description could not be read; some features may not work.</div>;
}

function Shell() {
  const [tab, setTab] = useState<Tab>("layers");
  const [basemap, setBasemap] = useState<BasemapChoice>(() => loadBasemap());
  const [basemapError, setBasemapError] = useState<string | null>(null);
  const [scenes, setScenes] = useState<ImageryFeature[]>([]);
  const [compare, setCompare] = useState<CompareState>(NO_COMPARE);
  const [timeWindow, setTimeWindow] = useState<TimeWindow | null>(null);
  const chooseBasemap = useCallback((choice: BasemapChoice) => {
    setBasemapError(null);
    setBasemap(choice);
    saveBasemap(choice);
  }, []);
  return (
    <div className="app">
      <header className="topbar">
        <h1 className="brand">
          <span className="logo" aria-hidden="true">
            ◍
          </span>
          TerraScan
        </h1>
        <ServerNotice />
        <AccountBar />
      </header>
      <aside className="sidebar">
        <nav className="tabs" role="tablist" aria-label="Panels">
          {TABS.map((t) => (
            <button key={t.id} role="tab" aria-selected={tab === t.id} onClick={() => setTab(t.id)} data-tab={t.id}>
              {t.label}
            </button>
          ))}
        </nav>
        {/* Panels stay mounted when hidden, so drawings and half-filled forms survive tab changes. */}
        <div hidden={tab !== "layers"}>
          <LayerPanel basemap={basemap} onBasemap={chooseBasemap} basemapError={basemapError} compare={compare} onCompare={setCompare} />
        </div>
        <div hidden={tab !== "search"}>
          <SearchPanel onResults={setScenes} />
        </div>
        <div hidden={tab !== "areas"}>
          <AoiPanel />
        </div>
        <div hidden={tab !== "analysis"}>
          <AnalysisPanel scenes={scenes} active={tab === "analysis"} />
        </div>
        <div hidden={tab !== "stats"}>
          <StatsPanel scenes={scenes} active={tab === "stats"} />
        </div>
        <div hidden={tab !== "preview"}>
          <PreviewPanel scenes={scenes} />
        </div>
      </aside>
      <main className="main">
        <MapView basemap={basemap} onBasemapError={setBasemapError} timeWindow={timeWindow} compare={compare} onCompare={setCompare} />
        <Timeline window={timeWindow} onChange={setTimeWindow} />
      </main>
      <SignInDialog />
    </div>
  );
}

export function App() {
  const services = useMemo(createServices, []);
  return (
    <ServicesProvider services={services}>
      <AuthProvider>
        <LayersProvider>
          <MapProvider>
            <Shell />
          </MapProvider>
        </LayersProvider>
      </AuthProvider>
    </ServicesProvider>
  );
}
