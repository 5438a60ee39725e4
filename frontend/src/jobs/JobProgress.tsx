/** A job's live progress: a bar with its status and message, then its end (done, failed or
 * cancelled). Follows the job's event stream, polling when the stream is unavailable. */
import { useEffect, useRef, useState } from "react";
import { useServices } from "../app/context";
import type { JobPublic } from "../api/types";
import { ErrorNotice, Notice } from "../ui/Notice";
import { followJob, type JobUpdate } from "./follow";

export function useFollowJob(id: string | null, onDone?: (job: JobPublic) => void) {
  const { client } = useServices();
  const [update, setUpdate] = useState<JobUpdate | null>(null);
  const [job, setJob] = useState<JobPublic | null>(null);
  const [error, setError] = useState<unknown>(null);
  const done = useRef(onDone);
  done.current = onDone;
  useEffect(() => {
    setUpdate(null);
    setJob(null);
    setError(null);
    if (!id) return;
    const abort = new AbortController();
    followJob(client, id, setUpdate, { signal: abort.signal })
      .then((final) => {
        setJob(final);
        done.current?.(final);
      })
      .catch((caught: unknown) => {
        if (!abort.signal.aborted) setError(caught);
      });
    return () => abort.abort();
  }, [client, id]);
  return { update, job, error };
}

export function JobProgress({ id, label, onDone }: { id: string; label: string; onDone?: (job: JobPublic) => void }) {
  const { update, job, error } = useFollowJob(id, onDone);
  const { client } = useServices();
  if (error) return <ErrorNotice error={error} />;
  if (job?.status === "failed") {
    return (
      <Notice kind="error">
        <span data-testid="job-failed">
          {label} failed: {job.error_message || job.message || "no reason given"}
        </span>
      </Notice>
    );
  }
  if (job?.status === "cancelled") return <Notice kind="info">{label} was cancelled.</Notice>;
  if (job?.status === "completed") {
    return (
      <div className="job job-done" data-testid="job-progress" data-status="completed">
        <progress max={100} value={100} /> {label}: completed
      </div>
    );
  }
  const percent = Math.round(update?.progress ?? 0);
  return (
    <div className="job" data-testid="job-progress" data-status={update?.status ?? "pending"}>
      <progress max={100} value={percent} aria-label={`${label} progress`} />
      <span>
        {label}: {update?.status ?? "starting"} {percent}% {update?.message ?? ""}
      </span>
      <button className="link" onClick={() => void client.cancelJob(id).catch(() => undefined)}>
        Cancel
      </button>
    </div>
  );
}
