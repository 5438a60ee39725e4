/** A share link for a result (contract 7): create one (expiring), show and copy it, revoke it. */
import { useState } from "react";
import { useServices } from "../app/context";
import type { SharePublic } from "../api/contracts";
import { ErrorNotice, Notice } from "../ui/Notice";

/** The absolute address of a share's public view. */
export function shareAddress(share: Pick<SharePublic, "url">, origin: string): string {
  return new URL(share.url, origin).href;
}

export function ShareButton({ resultId }: { resultId: string }) {
  const { client } = useServices();
  const [share, setShare] = useState<SharePublic | null>(null);
  const [hours, setHours] = useState(72);
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState(false);
  const [copied, setCopied] = useState(false);
  const [revoked, setRevoked] = useState(false);

  async function create() {
    setError(null);
    setRevoked(false);
    try {
      setShare(await client.createShare(resultId, { expires_in_hours: hours }));
    } catch (caught) {
      setError(caught);
    }
  }

  async function revoke() {
    if (!share) return;
    setError(null);
    try {
      await client.deleteShare(share.id);
      setShare(null);
      setRevoked(true);
    } catch (caught) {
      setError(caught);
    }
  }

  if (!open) return <button onClick={() => setOpen(true)}>Share link…</button>;
  const address = share ? shareAddress(share, window.location.origin) : "";
  return (
    <div className="share" data-testid="share">
      {share ? (
        <>
          <input readOnly value={address} aria-label="Share link" onFocus={(e) => e.currentTarget.select()} data-testid="share-url" />
          <div className="row">
            <button
              onClick={() =>
                void navigator.clipboard?.writeText(address).then(
                  () => setCopied(true),
                  () => setCopied(false),
                )
              }
            >
              {copied ? "Copied" : "Copy"}
            </button>
            <span className="muted grow">expires {share.expires_at.slice(0, 16).replace("T", " ")} UTC</span>
            <button onClick={() => void revoke()}>Revoke</button>
          </div>
        </>
      ) : (
        <div className="row">
          <label>
            Valid for
            <select value={hours} onChange={(e) => setHours(Number(e.target.value))} aria-label="Link valid for">
              <option value={24}>1 day</option>
              <option value={72}>3 days</option>
              <option value={168}>1 week</option>
              <option value={720}>30 days</option>
            </select>
          </label>
          <button className="primary" onClick={() => void create()}>
            Create link
          </button>
        </div>
      )}
      {revoked ? <Notice kind="info">The link was revoked: it now answers “gone”.</Notice> : null}
      {error ? <ErrorNotice error={error} /> : null}
    </div>
  );
}
