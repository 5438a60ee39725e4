/**
 * API failures as values the UI can show: RFC 9457 problem details from the server, or the
 * network failing, sorted into the few kinds a person needs told apart.
 */

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string | unknown;
  instance?: string;
  request_id?: string;
  [key: string]: unknown;
}

export type ErrorKind =
  | "network" // the server could not be reached
  | "unauthorized" // 401: not signed in, or the session ended
  | "forbidden" // 403: signed in, but the role does not allow it
  | "not-found" // 404 on an object (or another organisation's object)
  | "unavailable" // the server has no such endpoint (yet), or 503
  | "invalid" // 400/409/413/415/422: the request was refused as given
  | "rate-limited" // 429
  | "server"; // 5xx

export class ApiError extends Error {
  readonly status: number;
  readonly kind: ErrorKind;
  readonly problem: Problem | undefined;
  /** Seconds to wait before retrying (429), from Retry-After. */
  readonly retryAfter: number | undefined;

  constructor(kind: ErrorKind, status: number, message: string, problem?: Problem, retryAfter?: number) {
    super(message);
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

export function kindOf(status: number): ErrorKind {
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 404) return "not-found";
  if (status === 405 || status === 501 || status === 503) return "unavailable";
  if (status === 429) return "rate-limited";
  if (status >= 500) return "server";
  return "invalid";
}

/** FastAPI's 422 `detail` is a list of `{loc, msg}`; everything else is a string. */
function detailText(detail: unknown): string | undefined {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    const parts = detail.map((d: { loc?: unknown[]; msg?: string }) => {
      const field = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
      return field ? `${field}: ${d.msg ?? "invalid"}` : (d.msg ?? "invalid");
    });
    return parts.join("; ");
  }
  return undefined;
}

/** Build an ApiError from a failed response (its body is read here). */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let problem: Problem | undefined;
  const type = response.headers.get("content-type") ?? "";
  if (type.includes("json")) {
    try {
      problem = (await response.json()) as Problem;
    } catch {
      problem = undefined;
    }
  }
  const retry = Number(response.headers.get("retry-after"));
  const message =
    detailText(problem?.detail) ?? problem?.title ?? (response.statusText || `HTTP ${response.status}`);
  return new ApiError(kindOf(response.status), response.status, message, problem, Number.isFinite(retry) && retry > 0 ? retry : undefined);
}

export function networkError(cause: unknown): ApiError {
  const text = cause instanceof Error ? cause.message : String(cause);
  return new ApiError("network", 0, `the TerraScan server could not be reached (${text})`);
}

/** A sentence for a person, for any error the UI catches. */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : String(error);
  switch (error.kind) {
    case "network":
      return "The TerraScan server could not be reached. Check that it is running.";
    case "unauthorized":
      return "Your session has ended. Sign in again to continue; nothing on the page is lost.";
    case "forbidden":
      return `You do not have permission to do this in this organisation. ${error.message}`;
    case "not-found":
      return `Not found: ${error.message}`;
    case "unavailable":
      return "This server does not offer this feature yet.";
    case "rate-limited":
      return `Too many attempts; try again${error.retryAfter ? ` in ${error.retryAfter} s` : " later"}.`;
    case "server":
      return `The server failed (${error.status}). ${error.problem?.request_id ? `Request id ${error.problem.request_id}.` : ""}`.trim();
    default:
      return error.message;
  }
}
