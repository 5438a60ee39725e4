/**
 * React context for the app's services, the signed-in user and organisation, the layers and
 * the map. Components read what they need with the hooks at the bottom.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useState, type Dispatch, type ReactNode } from "react";
import type { Map as MapLibreMap } from "maplibre-gl";
import type { MapboxOverlay } from "@deck.gl/mapbox";
import { Capabilities } from "../api/capabilities";
import type { SessionStatus } from "../api/session";
import type { MembershipPublic, UserMe } from "../api/types";
import { layersReducer, type LayerAction, type MapLayer } from "../layers/layerStore";
import { orgPreference, type Services } from "./services";

// ---------------------------------------------------------------- services

const ServicesContext = createContext<Services | null>(null);
const CapabilitiesContext = createContext<Capabilities | null>(null);

export function ServicesProvider({ services, children }: { services: Services; children: ReactNode }) {
  const [capabilities, setCapabilities] = useState<Capabilities | null>(null);
  useEffect(() => {
    let live = true;
    void services.capabilities.then((c) => live && setCapabilities(c));
    return () => {
      live = false;
    };
  }, [services]);
  return (
    <ServicesContext.Provider value={services}>
      <CapabilitiesContext.Provider value={capabilities}>{children}</CapabilitiesContext.Provider>
    </ServicesContext.Provider>
  );
}

export function useServices(): Services {
  const services = useContext(ServicesContext);
  if (!services) throw new Error("useServices outside ServicesProvider");
  return services;
}

/** What the server offers; null while its OpenAPI document loads. */
export function useCapabilities(): Capabilities | null {
  return useContext(CapabilitiesContext);
}

// ---------------------------------------------------------------- auth

export interface AuthState {
  status: SessionStatus;
  /** The user, kept while the session is expired so the page keeps its context. */
  user: UserMe | null;
  memberships: MembershipPublic[];
  /** The organisation acted in (sent as X-Organization-ID). */
  orgId: string | null;
  /** Changes whenever who acts, or in which organisation, changes: a key to reload data. */
  scope: string;
  /** The dialog the shell shows: sign in, register, or nothing. */
  dialog: "sign-in" | "register" | null;
  openDialog(kind: "sign-in" | "register" | null): void;
  signIn(email: string, password: string): Promise<void>;
  register(email: string, password: string, name: string): Promise<void>;
  signOut(): Promise<void>;
  selectOrg(id: string): void;
  reloadUser(): Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

function chooseOrg(memberships: MembershipPublic[]): string | null {
  const wanted = orgPreference.get();
  const found = memberships.find((m) => m.org_id === wanted) ?? memberships.find((m) => m.is_personal) ?? memberships[0];
  return found?.org_id ?? null;
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const { session, client } = useServices();
  const [status, setStatus] = useState<SessionStatus>(session.status);
  const [user, setUser] = useState<UserMe | null>(null);
  const [orgId, setOrgId] = useState<string | null>(orgPreference.get());
  const [dialog, setDialog] = useState<AuthState["dialog"]>(null);

  useEffect(() => session.subscribe(setStatus), [session]);

  const reloadUser = useCallback(async () => {
    const me = await client.me();
    setUser(me);
    const org = chooseOrg(me.memberships ?? []);
    orgPreference.set(org);
    setOrgId(org);
  }, [client]);

  useEffect(() => {
    if (status === "signed-in") {
      reloadUser().catch(() => undefined);
      setDialog(null);
    } else if (status === "signed-out") {
      setUser(null);
    } else if (status === "expired") {
      setDialog("sign-in");
    }
  }, [status, reloadUser]);

  const value = useMemo<AuthState>(
    () => ({
      status,
      user,
      memberships: user?.memberships ?? [],
      orgId,
      scope: status === "signed-in" && user ? `${user.id}:${orgId ?? ""}` : status,
      dialog,
      openDialog: setDialog,
      async signIn(email, password) {
        await client.login({ email, password });
        if (user && user.email.toLowerCase() !== email.toLowerCase()) orgPreference.set(null);
      },
      async register(email, password, name) {
        await client.register({ email, password, name });
        await client.login({ email, password });
      },
      async signOut() {
        await client.logout();
        orgPreference.set(null);
        setOrgId(null);
      },
      selectOrg(id) {
        orgPreference.set(id);
        setOrgId(id);
      },
      reloadUser,
    }),
    [status, user, orgId, dialog, client, reloadUser],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth outside AuthProvider");
  return auth;
}

// ---------------------------------------------------------------- layers

const LayersContext = createContext<{ layers: MapLayer[]; dispatch: Dispatch<LayerAction> } | null>(null);

export function LayersProvider({ children }: { children: ReactNode }) {
  const [layers, dispatch] = useReducer(layersReducer, []);
  const value = useMemo(() => ({ layers, dispatch }), [layers]);
  return <LayersContext.Provider value={value}>{children}</LayersContext.Provider>;
}

export function useLayers() {
  const layers = useContext(LayersContext);
  if (!layers) throw new Error("useLayers outside LayersProvider");
  return layers;
}

// ---------------------------------------------------------------- map

export interface MapHandle {
  map: MapLibreMap;
  overlay: MapboxOverlay;
}

const MapContext = createContext<{ handle: MapHandle | null; setHandle: (h: MapHandle | null) => void } | null>(null);

export function MapProvider({ children }: { children: ReactNode }) {
  const [handle, setHandle] = useState<MapHandle | null>(null);
  const value = useMemo(() => ({ handle, setHandle }), [handle]);
  return <MapContext.Provider value={value}>{children}</MapContext.Provider>;
}

/** The map and its deck.gl overlay, once created (null before). */
export function useMapHandle(): MapHandle | null {
  return useContext(MapContext)?.handle ?? null;
}

export function useSetMapHandle(): (h: MapHandle | null) => void {
  const context = useContext(MapContext);
  if (!context) throw new Error("useSetMapHandle outside MapProvider");
  return context.setHandle;
}
