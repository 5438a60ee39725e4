import { describe, expect, it } from "vitest";
import { ApiClient } from "../api/client";
import { Session } from "../api/session";
import { eventUpdate, followJob, parseSse, type JobUpdate } from "./follow";

describe("parseSse", () => {
  it("splits complete messages, keeps the unfinished rest, drops comments", () => {
    const text = 'event: status\ndata: {"status":"running","progress_pct":5}\n\n: keep-alive\n\nevent: progress\r\ndata: {"a":\r\ndata: 1}\r\n\r\nevent: status\ndata: {"sta';
    const { messages, rest } = parseSse(text);
    expect(messages).toEqual([
      { event: "status", data: '{"status":"running","progress_pct":5}' },
      { event: "progress", data: '{"a":\n1}' },
    ]);
    expect(rest).toBe('event: status\ndata: {"sta');
  });

  it("reads job events as updates, clamping progress", () => {
    expect(eventUpdate({ event: "progress", data: '{"status":"running","progress_pct":163.5,"message":"scoring"}' })).toEqual({ status: "running", progress: 100, message: "scoring", via: "events" });
    expect(eventUpdate({ event: "status", data: "not json" })).toBeUndefined();
    expect(eventUpdate({ event: "status", data: '{"progress_pct":3}' })).toBeUndefined();
  });
});

/** A fake server: the events route answers `events` (or fails), GET /jobs/{id} walks `states`. */
function client(events: string | null, states: { status: string; progress_pct: number }[]) {
  let polls = 0;
  const requests: string[] = [];
  const fetchFn = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    requests.push(`${init?.method ?? "GET"} ${url} ${new Headers(init?.headers).get("authorization") ?? ""}`);
    if (url.endsWith("/events")) {
      if (events === null) return new Response(JSON.stringify({ title: "nope" }), { status: 503, headers: { "content-type": "application/problem+json" } });
      return new Response(events, { status: 200, headers: { "content-type": "text/event-stream" } });
    }
    const state = states[Math.min(polls++, states.length - 1)]!;
    return new Response(JSON.stringify({ id: "j1", job_type: "spectral-index", message: "", error_message: null, ...state }), { status: 200, headers: { "content-type": "application/json" } });
  };
  const session = new Session({ refresh: async () => ({ access_token: "a2", refresh_token: "r2", token_type: "bearer", expires_in: 900 }) as never, storage: undefined });
  session.signIn({ access_token: "a1", refresh_token: "r1", token_type: "bearer", expires_in: 900 } as never);
  return { api: new ApiClient({ baseUrl: "http://x/api/v1", session, fetch: fetchFn as typeof fetch }), requests };
}

describe("followJob", () => {
  it("follows the event stream to the end, then reads the final record once", async () => {
    const stream = [
      'event: status\ndata: {"status":"running","progress_pct":5,"message":"inputs fetched"}\n\n',
      'event: progress\ndata: {"status":"running","progress_pct":63,"message":"scoring"}\n\n',
      'event: status\ndata: {"status":"completed","progress_pct":100,"message":""}\n\n',
    ].join("");
    const { api, requests } = client(stream, [{ status: "completed", progress_pct: 100 }]);
    const updates: JobUpdate[] = [];
    const job = await followJob(api, "j1", (u) => updates.push(u));
    expect(updates.map((u) => [u.status, u.progress, u.via])).toEqual([
      ["running", 5, "events"],
      ["running", 63, "events"],
      ["completed", 100, "events"],
    ]);
    expect(job.status).toBe("completed");
    expect(requests).toEqual(["GET http://x/api/v1/jobs/j1/events Bearer a1", "GET http://x/api/v1/jobs/j1 Bearer a1"]);
  });

  it("polls when the event stream is not available, until a terminal status", async () => {
    const { api, requests } = client(null, [
      { status: "queued", progress_pct: 0 },
      { status: "running", progress_pct: 40 },
      { status: "failed", progress_pct: 40 },
    ]);
    const updates: JobUpdate[] = [];
    const job = await followJob(api, "j1", (u) => updates.push(u), { pollMs: 1 });
    expect(updates.map((u) => [u.status, u.progress, u.via])).toEqual([
      ["queued", 0, "poll"],
      ["running", 40, "poll"],
      ["failed", 40, "poll"],
    ]);
    expect(job.status).toBe("failed");
    expect(requests.filter((r) => r.includes("/jobs/j1 "))).toHaveLength(3);
  });

  it("polls on when the stream ends before a terminal event", async () => {
    const { api } = client('event: status\ndata: {"status":"running","progress_pct":10}\n\n', [{ status: "completed", progress_pct: 100 }]);
    const updates: JobUpdate[] = [];
    const job = await followJob(api, "j1", (u) => updates.push(u), { pollMs: 1 });
    expect(updates.map((u) => u.via)).toEqual(["events", "poll"]);
    expect(job.status).toBe("completed");
  });
});
