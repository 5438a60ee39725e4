import { describe, expect, it, vi } from "vitest";
import { Capabilities } from "./capabilities";
import { ApiClient, ORG_HEADER, queryString } from "./client";
import { ApiError, describeError } from "./errors";
import { SESSION_KEY, Session, type KeyValueStorage } from "./session";
import type { TokenPair } from "./types";

class MemoryStorage implements KeyValueStorage {
  readonly map = new Map<string, string>();
  getItem(key: string) {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.map.set(key, value);
  }
  removeItem(key: string) {
    this.map.delete(key);
  }
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": status >= 400 ? "application/problem+json" : "application/json", ...headers },
  });

const pair = (n: number, expiresIn = 900): TokenPair => ({
  access_token: `access-${n}`,
  refresh_token: `refresh-${n}`,
  token_type: "bearer",
  expires_in: expiresIn,
});

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A fake server: `routes` answers by "METHOD /path"; every call is recorded. */
function setup(routes: Record<string, (call: Call) => Response | Promise<Response>>, options: { now?: () => number; org?: string } = {}) {
  const calls: Call[] = [];
  const storage = new MemoryStorage();
  const fetchFn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const path = url.replace("http://ts.test/api/v1", "").split("?")[0]!;
    const call: Call = {
      url,
      method: init?.method ?? "GET",
      headers: (init?.headers ?? {}) as Record<string, string>,
      body: typeof init?.body === "string" ? JSON.parse(init.body) : init?.body,
    };
    calls.push(call);
    const route = routes[`${call.method} ${path}`];
    if (!route) return json(404, { title: "Not Found", status: 404, detail: "Not Found" });
    return route(call);
  });
  let client: ApiClient;
  const session = new Session({ refresh: (token) => client.refreshTokens(token), storage, now: options.now });
  client = new ApiClient({ baseUrl: "http://ts.test/api/v1/", session, fetch: fetchFn as typeof fetch, organization: () => options.org ?? null });
  return { client, session, storage, calls };
}

describe("ApiClient", () => {
  it("signs in, then sends the token and the organisation on each request", async () => {
    const { client, session, storage, calls } = setup(
      {
        "POST /auth/login": () => json(200, pair(1)),
        "GET /users/me": () => json(200, { id: "u", email: "ada@example.org", name: "Ada", created_at: "", memberships: [] }),
      },
      { org: "org-7" },
    );
    await client.login({ email: "ada@example.org", password: "pw" });
    expect(session.status).toBe("signed-in");
    expect(JSON.parse(storage.getItem(SESSION_KEY)!).refreshToken).toBe("refresh-1");
    const me = await client.me();
    expect(me.email).toBe("ada@example.org");
    expect(calls[0]!.headers.Authorization).toBeUndefined();
    expect(calls[1]!.headers.Authorization).toBe("Bearer access-1");
    expect(calls[1]!.headers[ORG_HEADER]).toBe("org-7");
  });

  it("refreshes once on 401 and retries, however many requests failed together", async () => {
    let refreshes = 0;
    const { client, session } = setup({
      "POST /auth/login": () => json(200, pair(1)),
      "POST /auth/refresh": async (call) => {
        refreshes++;
        expect(call.body).toEqual({ refresh_token: "refresh-1" });
        await new Promise((r) => setTimeout(r, 5));
        return json(200, pair(2));
      },
      "GET /aois": (call) =>
        call.headers.Authorization === "Bearer access-2" ? json(200, []) : json(401, { title: "Unauthorized", status: 401 }),
    });
    await client.login({ email: "a@b.co", password: "pw" });
    const results = await Promise.all([client.listAois(), client.listAois(), client.listAois()]);
    expect(results).toEqual([[], [], []]);
    expect(refreshes).toBe(1);
    expect(session.accessToken).toBe("access-2");
  });

  it("refreshes ahead of expiry, before sending", async () => {
    let now = 0;
    const { client, calls } = setup(
      {
        "POST /auth/login": () => json(200, pair(1, 60)),
        "POST /auth/refresh": () => json(200, pair(2, 60)),
        "GET /orgs": () => json(200, []),
      },
      { now: () => now },
    );
    await client.login({ email: "a@b.co", password: "pw" });
    now = 45_000; // 15 s left: inside the 30 s leeway
    await client.orgs();
    expect(calls.map((c) => `${c.method} ${c.url.split("/api/v1")[1]}`)).toEqual([
      "POST /auth/login",
      "POST /auth/refresh",
      "GET /orgs",
    ]);
    expect(calls[2]!.headers.Authorization).toBe("Bearer access-2");
  });

  it("marks the session expired (not signed out) when the refresh token is refused", async () => {
    const { client, session } = setup({
      "POST /auth/login": () => json(200, pair(1)),
      "POST /auth/refresh": () => json(401, { title: "Unauthorized", status: 401, detail: "this refresh token was already used" }),
      "GET /aois": () => json(401, { title: "Unauthorized", status: 401 }),
    });
    const seen: string[] = [];
    session.subscribe((s) => seen.push(s));
    await client.login({ email: "a@b.co", password: "pw" });
    const error = await client.listAois().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).kind).toBe("unauthorized");
    expect(session.status).toBe("expired");
    expect(session.accessToken).toBeNull();
    expect(seen).toEqual(["signed-in", "expired"]);
    expect(describeError(error)).toMatch(/nothing on the page is lost/);
  });

  it("adopts a pair another tab already obtained instead of spending the refresh token again", async () => {
    const { client, session, storage } = setup({
      "POST /auth/login": () => json(200, pair(1)),
      "POST /auth/refresh": () => json(500, { title: "must not be called", status: 500 }),
    });
    await client.login({ email: "a@b.co", password: "pw" });
    storage.setItem(SESSION_KEY, JSON.stringify({ accessToken: "access-9", refreshToken: "refresh-9", expiresAt: Date.now() + 600_000 }));
    expect(await session.refresh("access-1")).toBe("access-9");
    expect(session.refreshToken).toBe("refresh-9");
  });

  it("follows sign-in and sign-out in other tabs", () => {
    const { session, storage } = setup({});
    storage.setItem(SESSION_KEY, JSON.stringify({ accessToken: "a", refreshToken: "r", expiresAt: Date.now() + 1e6 }));
    session.syncFromStorage(SESSION_KEY);
    expect(session.status).toBe("signed-in");
    storage.removeItem(SESSION_KEY);
    session.syncFromStorage(null);
    expect(session.status).toBe("signed-out");
  });

  it("keeps the tokens when the network fails", async () => {
    const { client, session } = setup({ "POST /auth/login": () => json(200, pair(1)) });
    await client.login({ email: "a@b.co", password: "pw" });
    const offline = new ApiClient({
      baseUrl: "http://ts.test/api/v1",
      session,
      fetch: (() => Promise.reject(new TypeError("Failed to fetch"))) as typeof fetch,
    });
    const error = (await offline.orgs().catch((e: unknown) => e)) as ApiError;
    expect(error.kind).toBe("network");
    expect(session.status).toBe("signed-in");
  });

  it("turns problem details into readable errors", async () => {
    const { client } = setup({
      "POST /auth/register": () =>
        json(422, { title: "Unprocessable Entity", status: 422, detail: [{ loc: ["body", "password"], msg: "too short" }] }),
      "POST /auth/login": () => json(429, { title: "Too Many Requests", status: 429 }, { "retry-after": "30" }),
      "POST /aois": () => json(403, { title: "Forbidden", status: 403, detail: "the viewer role may not perform 'aoi:create'" }),
    });
    const invalid = (await client.register({ email: "a@b.co", password: "x", name: "" }).catch((e: unknown) => e)) as ApiError;
    expect([invalid.kind, invalid.message]).toEqual(["invalid", "password: too short"]);
    const limited = (await client.login({ email: "a@b.co", password: "x" }).catch((e: unknown) => e)) as ApiError;
    expect(describeError(limited)).toBe("Too many attempts; try again in 30 s.");
    const forbidden = (await client.createAoi({} as never).catch((e: unknown) => e)) as ApiError;
    expect(forbidden.kind).toBe("forbidden");
    expect(describeError(forbidden)).toMatch(/permission/);
  });

  it("signs out locally even when the server cannot be told", async () => {
    const { client, session, storage, calls } = setup({
      "POST /auth/login": () => json(200, pair(1)),
      "POST /auth/logout": () => json(500, { title: "boom", status: 500 }),
    });
    await client.login({ email: "a@b.co", password: "pw" });
    await client.logout();
    expect(session.status).toBe("signed-out");
    expect(storage.getItem(SESSION_KEY)).toBeNull();
    expect(calls.at(-1)!.body).toEqual({ refresh_token: "refresh-1" });
  });

  it("encodes search parameters as the server reads them", async () => {
    const { client, calls } = setup({ "GET /imagery/search": () => json(200, { type: "FeatureCollection", features: [] }) });
    await client.searchImagery({ bbox: [9.5, 44.5, 10.5, 45.5], datetime: "2024-01-01/2024-03-31", max_cloud: 20 });
    const url = new URL(calls[0]!.url);
    expect(url.searchParams.get("bbox")).toBe("9.500000,44.500000,10.500000,45.500000");
    expect(url.searchParams.get("max_cloud")).toBe("20");
    expect(queryString({ a: undefined, b: null, c: [1, 2] })).toBe("?c=1&c=2");
  });
});

describe("Capabilities", () => {
  const caps = Capabilities.fromOpenApi({
    paths: {
      "/api/v1/aois": { get: {}, post: {} },
      "/api/v1/imagery/{imagery_id}": { get: {} },
      "/stac/search": { get: {} },
    },
  });

  it("knows the server's routes, whatever the parameter names", () => {
    expect(caps.has("post", "/aois")).toBe(true);
    expect(caps.has("get", "/imagery/{id}")).toBe(true);
    expect(caps.has("delete", "/imagery/{id}")).toBe(false);
    expect(caps.has("post", "/analysis/spectral-index")).toBe(false);
  });

  it("tries everything when the document could not be read", () => {
    expect(Capabilities.unknown().has("post", "/analysis/spectral-index")).toBe(true);
  });
});
