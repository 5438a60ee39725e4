/**
 * The sign-in session: the access/refresh token pair, kept across reloads and shared by tabs.
 *
 * Refresh tokens rotate on the server and a reused one revokes the whole sign-in session, so a
 * refresh must happen once even when many requests fail together or several tabs notice the
 * expiry at the same moment: concurrent calls share one in-flight refresh, and across tabs the
 * refresh runs under a Web Lock, re-reading storage inside it so a tab adopts a pair another
 * tab already obtained instead of spending the old refresh token a second time.
 *
 * When the refresh token itself is refused the session becomes "expired", not "signed-out":
 * the app keeps everything on the page and asks for the password again.
 */
import { ApiError } from "./errors";
import type { TokenPair } from "./types";

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires, in ms since the epoch. */
  expiresAt: number;
}

export type SessionStatus = "signed-out" | "signed-in" | "expired";

/** The part of `localStorage` the session uses (tests pass a Map-backed one). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** The part of `navigator.locks` the session uses. */
export interface Locks {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

export interface SessionOptions {
  /** Exchange a refresh token for a new pair (POST /auth/refresh). */
  refresh: (refreshToken: string) => Promise<TokenPair>;
  storage?: KeyValueStorage | undefined;
  locks?: Locks | undefined;
  now?: () => number;
  /** Refresh this long before the access token expires, in ms. */
  leewayMs?: number;
  key?: string;
}

type Listener = (status: SessionStatus) => void;

export const SESSION_KEY = "terrascan.session";

function parse(text: string | null): Tokens | null {
  if (!text) return null;
  try {
    const value = JSON.parse(text) as Partial<Tokens>;
    if (typeof value.accessToken === "string" && typeof value.refreshToken === "string" && typeof value.expiresAt === "number") {
      return value as Tokens;
    }
  } catch {
    // a damaged entry is the same as none
  }
  return null;
}

export class Session {
  private tokens: Tokens | null;
  private state: SessionStatus;
  private inflight: Promise<string | null> | null = null;
  private readonly listeners = new Set<Listener>();
  private readonly options: Required<Omit<SessionOptions, "storage" | "locks">> & Pick<SessionOptions, "storage" | "locks">;

  constructor(options: SessionOptions) {
    this.options = {
      ...options,
      now: options.now ?? Date.now,
      leewayMs: options.leewayMs ?? 30_000,
      key: options.key ?? SESSION_KEY,
    };
    this.tokens = this.load();
    this.state = this.tokens ? "signed-in" : "signed-out";
  }

  get status(): SessionStatus {
    return this.state;
  }

  get accessToken(): string | null {
    return this.tokens?.accessToken ?? null;
  }

  get refreshToken(): string | null {
    return this.tokens?.refreshToken ?? null;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Start a session with a pair from login (or refresh). */
  signIn(pair: TokenPair): void {
    this.set(
      {
        accessToken: pair.access_token,
        refreshToken: pair.refresh_token,
        expiresAt: this.options.now() + pair.expires_in * 1000,
      },
      "signed-in",
    );
  }

  signOut(): void {
    this.set(null, "signed-out");
  }

  /** The server refused the session: forget the tokens, keep the page, ask to sign in again. */
  expire(): void {
    if (this.state === "signed-out") return;
    this.set(null, "expired");
  }

  /** An access token that is not about to expire, refreshing first when needed. */
  async freshAccessToken(): Promise<string | null> {
    const tokens = this.tokens;
    if (!tokens) return null;
    if (tokens.expiresAt - this.options.now() > this.options.leewayMs) return tokens.accessToken;
    return this.refresh(tokens.accessToken);
  }

  /**
   * Get a new access token because `failed` was refused or is expiring. Concurrent callers
   * share one refresh. Returns null (and the session is "expired") when the server refuses the
   * refresh token; network failures are thrown and leave the tokens as they were.
   */
  refresh(failed?: string | null): Promise<string | null> {
    if (!this.inflight) {
      const run = () => this.refreshLocked(failed ?? null);
      const locked = this.options.locks ? this.options.locks.request("terrascan-refresh", run) : run();
      this.inflight = locked.finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  private async refreshLocked(failed: string | null): Promise<string | null> {
    // Another tab may have refreshed while this one waited for the lock.
    const stored = this.load();
    if (stored && stored.accessToken !== failed && stored.expiresAt - this.options.now() > this.options.leewayMs) {
      this.set(stored, "signed-in");
      return stored.accessToken;
    }
    const refreshToken = stored?.refreshToken ?? this.tokens?.refreshToken;
    if (!refreshToken) {
      this.expire();
      return null;
    }
    try {
      this.signIn(await this.options.refresh(refreshToken));
      return this.accessToken;
    } catch (error) {
      if (error instanceof ApiError && (error.kind === "unauthorized" || error.kind === "invalid")) {
        this.expire();
        return null;
      }
      throw error;
    }
  }

  /** Follow sign-in, refresh and sign-out done in another tab (a `storage` event). */
  syncFromStorage(key: string | null): void {
    if (key !== null && key !== this.options.key) return;
    const stored = this.load();
    if (stored) {
      if (stored.accessToken !== this.tokens?.accessToken) this.set(stored, "signed-in", false);
    } else if (this.tokens) {
      this.set(null, "signed-out", false);
    }
  }

  private load(): Tokens | null {
    return parse(this.options.storage?.getItem(this.options.key) ?? null);
  }

  private set(tokens: Tokens | null, status: SessionStatus, persist = true): void {
    this.tokens = tokens;
    if (persist && this.options.storage) {
      if (tokens) this.options.storage.setItem(this.options.key, JSON.stringify(tokens));
      else this.options.storage.removeItem(this.options.key);
    }
    const changed = this.state !== status;
    this.state = status;
    for (const listener of this.listeners) if (changed || tokens) listener(status);
  }
}
