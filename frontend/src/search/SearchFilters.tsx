/** The date range and cloud-cover fields shared by the catalog search and the STAC discover
 * forms. */

export interface SearchFiltersProps {
  start: string;
  end: string;
  maxCloud: number;
  onStart: (value: string) => void;
  onEnd: (value: string) => void;
  onMaxCloud: (value: number) => void;
}

export function SearchFilters({ start, end, maxCloud, onStart, onEnd, onMaxCloud }: SearchFiltersProps) {
  return (
    <>
      <div className="row">
        <label>
          From
          <input type="date" value={start} onChange={(e) => onStart(e.target.value)} />
        </label>
        <label>
          To
          <input type="date" value={end} onChange={(e) => onEnd(e.target.value)} />
        </label>
      </div>
      <label>
        Cloud cover at most {maxCloud}%
        <input type="range" min={0} max={100} step={5} value={maxCloud} onChange={(e) => onMaxCloud(Number(e.target.value))} />
      </label>
    </>
  );
}
