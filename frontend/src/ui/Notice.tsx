/** The clear states every panel uses: loading, empty, error, no permission, not offered. */
import type { ReactNode } from "react";
import { ApiError, describeError } from "../api/errors";

export type NoticeKind = "loading" | "empty" | "error" | "forbidden" | "unavailable" | "signed-out" | "info";

const ICONS: Record<NoticeKind, string> = {
  loading: "…",
  empty: "∅",
  error: "⚠",
  forbidden: "⊘",
  unavailable: "◌",
  "signed-out": "↪",
  info: "i",
};

export function Notice({ kind, children, action }: { kind: NoticeKind; children: ReactNode; action?: ReactNode }) {
  return (
    <div className={`notice notice-${kind}`} role={kind === "error" ? "alert" : "status"} data-state={kind}>
      <span className="notice-icon" aria-hidden="true">
        {ICONS[kind]}
      </span>
      <div className="notice-body">
        {children}
        {action ? <div className="notice-action">{action}</div> : null}
      </div>
    </div>
  );
}

/** The notice for a caught error: permission, missing endpoint and the rest told apart. */
export function ErrorNotice({ error, action }: { error: unknown; action?: ReactNode }) {
  const kind: NoticeKind =
    error instanceof ApiError
      ? error.kind === "forbidden"
        ? "forbidden"
        : error.kind === "unavailable"
          ? "unavailable"
          : error.kind === "unauthorized"
            ? "signed-out"
            : "error"
      : "error";
  return (
    <Notice kind={kind} action={action}>
      {describeError(error)}
    </Notice>
  );
}
