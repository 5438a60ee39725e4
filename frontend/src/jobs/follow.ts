/**
 * Following a job live: the Server-Sent Events of `GET /jobs/{id}/events`, read through
 * `fetch` streaming (EventSource cannot send the Bearer header), and polling `GET /jobs/{id}`
 * when the stream is not available or breaks off. Either way the caller gets the same
 * updates and, at the end, the job's final record (with its results or its error).
 */
import type { ApiClient } from "../api/client";
import { TERMINAL_STATUSES, type JobPublic } from "../api/types";

export interface JobUpdate {
  status: string;
  /** 0..100 */
  progress: number;
  message: string;
  /** How the update arrived. */
  via: "events" | "poll";
}

export interface SseMessage {
  event: string;
  data: string;
}

/** Split a Server-Sent Events buffer into complete messages and the unfinished rest. Comments
 * (`: keep-alive`) are dropped; multi-line `data:` fields are joined with newlines. */
export function parseSse(buffer: string): { messages: SseMessage[]; rest: string } {
  const normalised = buffer.replace(/\r\n?/g, "\n");
  const blocks = normalised.split("\n\n");
  const rest = blocks.pop() ?? "";
  const messages: SseMessage[] = [];
  for (const block of blocks) {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length) messages.push({ event, data: data.join("\n") });
  }
  return { messages, rest };
}

/** A job event (SSE data line) as an update; undefined for anything else. */
export function eventUpdate(message: SseMessage): JobUpdate | undefined {
  try {
    const event = JSON.parse(message.data) as { status?: unknown; progress_pct?: unknown; message?: unknown };
    if (typeof event.status !== "string") return undefined;
    return {
      status: event.status,
      progress: clampProgress(event.progress_pct),
      message: typeof event.message === "string" ? event.message : "",
      via: "events",
    };
  } catch {
    return undefined;
  }
}

export function clampProgress(value: unknown): number {
  const n = typeof value === "number" && Number.isFinite(value) ? value : 0;
  return Math.min(100, Math.max(0, n));
}

export function jobUpdate(job: JobPublic, via: JobUpdate["via"] = "poll"): JobUpdate {
  return { status: job.status, progress: clampProgress(job.progress_pct), message: job.error_message ?? job.message ?? "", via };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((done, fail) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      fail(new DOMException("aborted", "AbortError"));
    });
  });

/** Read the event stream until a terminal status; true when one arrived. */
async function streamEvents(client: ApiClient, id: string, onUpdate: (u: JobUpdate) => void, signal?: AbortSignal): Promise<boolean> {
  const response = await client.fetchRaw("GET", `/jobs/${encodeURIComponent(id)}/events`, { signal });
  if (!response.body || !(response.headers.get("content-type") ?? "").includes("text/event-stream")) return false;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      buffer += value;
      const { messages, rest } = parseSse(buffer);
      buffer = rest;
      for (const message of messages) {
        const update = eventUpdate(message);
        if (!update) continue;
        onUpdate(update);
        if (TERMINAL_STATUSES.has(update.status)) return true;
      }
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

export interface FollowOptions {
  signal?: AbortSignal;
  /** Milliseconds between polls (fallback). */
  pollMs?: number;
  /** Skip the event stream (tests, or servers without it). */
  pollOnly?: boolean;
}

/** Follow a job to its end; resolves with its final record. */
export async function followJob(client: ApiClient, id: string, onUpdate: (u: JobUpdate) => void, options: FollowOptions = {}): Promise<JobPublic> {
  const { signal, pollMs = 1000 } = options;
  if (!options.pollOnly) {
    try {
      if (await streamEvents(client, id, onUpdate, signal)) return await client.job(id, signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      // The stream failed (proxy, old server): poll instead.
    }
  }
  for (;;) {
    const job = await client.job(id, signal);
    onUpdate(jobUpdate(job));
    if (TERMINAL_STATUSES.has(job.status)) return job;
    await sleep(pollMs, signal);
  }
}
