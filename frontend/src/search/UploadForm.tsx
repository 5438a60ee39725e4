/** Upload a GeoTIFF of one's own into the organisation's catalog (`POST /imagery/upload`). */
import { useState, type FormEvent } from "react";
import { useCapabilities, useServices } from "../app/context";
import type { ImageryPublic } from "../api/types";
import { ErrorNotice, Notice } from "../ui/Notice";

export function UploadForm({ onUploaded }: { onUploaded: (imagery: ImageryPublic) => void }) {
  const { client } = useServices();
  const capabilities = useCapabilities();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<ImageryPublic | null>(null);
  if (!(capabilities?.has("post", "/imagery/upload") ?? true)) return null;

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    for (const key of ["bands", "name", "acquired"]) if (!String(form.get(key) ?? "").trim()) form.delete(key);
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const imagery = await client.uploadImagery(form);
      setDone(imagery);
      onUploaded(imagery);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  return (
    <details className="upload">
      <summary>Upload a GeoTIFF</summary>
      <form onSubmit={(e) => void submit(e)} data-testid="upload-form">
        <label>
          File
          <input type="file" name="file" accept=".tif,.tiff,image/tiff" required />
        </label>
        <label>
          Bands (file band to common name)
          <input name="bands" placeholder="blue=1,green=2,red=3,nir=4" maxLength={500} />
        </label>
        <div className="row">
          <label>
            Name
            <input name="name" maxLength={200} />
          </label>
          <label>
            Acquired
            <input name="acquired" type="date" />
          </label>
        </div>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Uploading…" : "Upload"}
        </button>
      </form>
      {error ? <ErrorNotice error={error} /> : null}
      {done ? <Notice kind="info">Uploaded “{done.name}” ({done.bands.join(", ") || "no band names"}).</Notice> : null}
    </details>
  );
}
