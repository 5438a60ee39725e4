/**
 * Sign-in through an OAuth provider (Google, GitHub) ends with the server redirecting to the
 * web app with the token pair in the URL fragment (which never reaches a server). Take it from
 * there into the session and remove it from the address bar and the history.
 */
import type { Session } from "../api/session";
import type { TokenPair } from "../api/types";

export function tokenPairFromFragment(hash: string): TokenPair | null {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const access = params.get("access_token");
  const refresh = params.get("refresh_token");
  const expiresIn = Number(params.get("expires_in"));
  if (!access || !refresh || !Number.isFinite(expiresIn) || expiresIn <= 0) return null;
  return { access_token: access, refresh_token: refresh, token_type: "bearer", expires_in: expiresIn };
}

/** Sign in from the fragment, if it holds a pair; returns whether it did. */
export function consumeOAuthRedirect(session: Session, location: Pick<Location, "hash" | "pathname" | "search">, history: Pick<History, "replaceState">): boolean {
  const pair = tokenPairFromFragment(location.hash);
  if (!pair) return false;
  history.replaceState(null, "", `${location.pathname}${location.search}`);
  session.signIn(pair);
  return true;
}
