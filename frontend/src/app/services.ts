/** The app's long-lived objects: the session, the API client and what the server offers. */
import { ApiClient } from "../api/client";
import { loadCapabilities, type Capabilities } from "../api/capabilities";
import { Session, type Locks } from "../api/session";
import { consumeOAuthRedirect } from "../auth/oauth";
import { apiBase } from "../config";

export interface Services {
  baseUrl: string;
  session: Session;
  client: ApiClient;
  capabilities: Promise<Capabilities>;
}

const ORG_KEY = "terrascan.org";

export const orgPreference = {
  get: (): string | null => globalThis.localStorage?.getItem(ORG_KEY) ?? null,
  set: (id: string | null): void => {
    if (id) globalThis.localStorage?.setItem(ORG_KEY, id);
    else globalThis.localStorage?.removeItem(ORG_KEY);
  },
};

export function createServices(): Services {
  const baseUrl = apiBase();
  const locks = (globalThis.navigator as Navigator & { locks?: Locks }).locks;
  let client: ApiClient | undefined;
  const session = new Session({
    refresh: (token) => client!.refreshTokens(token),
    storage: globalThis.localStorage,
    locks,
  });
  client = new ApiClient({ baseUrl, session, organization: orgPreference.get });
  globalThis.addEventListener?.("storage", (event) => session.syncFromStorage(event.key));
  consumeOAuthRedirect(session, window.location, window.history);
  return { baseUrl, session, client, capabilities: loadCapabilities(baseUrl) };
}
