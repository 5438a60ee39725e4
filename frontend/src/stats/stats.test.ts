import { describe, expect, it } from "vitest";
import { labelAnchor, linePath, linearScale, niceTicks, valueDomain } from "./chart";
import { csvField, toCsv, zoneColumns } from "./csv";

describe("chart scales", () => {
  it("maps a domain onto a range, inverted ranges included", () => {
    const y = linearScale([-1, 1], [150, 10]);
    expect(y(-1)).toBe(150);
    expect(y(1)).toBe(10);
    expect(y(0)).toBe(80);
    expect(linearScale([5, 5], [0, 100])(5)).toBe(50);
    const t = linearScale([Date.parse("2024-05-10"), Date.parse("2024-08-18")], [40, 290]);
    expect(t(Date.parse("2024-05-10"))).toBe(40);
    expect(t(Date.parse("2024-08-18"))).toBe(290);
  });

  it("picks round ticks inside the domain", () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(-0.13, 0.61, 4)).toEqual([0, 0.2, 0.4, 0.6]);
    expect(niceTicks(-0.13, 0.61, 8)).toEqual([-0.1, 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    expect(niceTicks(3, 3)).toEqual([3]);
    for (const t of niceTicks(0.1234, 0.5678, 5)) expect(t >= 0.1234 && t <= 0.5678).toBe(true);
  });

  it("pads the value domain and breaks the line at missing values", () => {
    const [lo, hi] = valueDomain([0.2, 0.6]);
    expect(lo).toBeCloseTo(0.18, 12);
    expect(hi).toBeCloseTo(0.62, 12);
    expect(valueDomain([null])).toEqual([0, 1]);
    expect(linePath([{ x: 1, y: 2 }, { x: 3, y: 4 }, { x: 5, y: null }, { x: 7, y: 8 }])).toBe("M1.0,2.0L3.0,4.0M7.0,8.0");
  });
});

describe("chart labels", () => {
  it("keeps date labels inside the chart: end-anchored at the right edge, start-anchored at the left", () => {
    // The time-series chart: 300 wide, points from 40 to 290, date labels about 50 wide.
    expect(labelAnchor(290, 50, 0, 300)).toBe("end");
    expect(labelAnchor(40, 50, 0, 300)).toBe("middle");
    expect(labelAnchor(20, 50, 0, 300)).toBe("start");
    expect(labelAnchor(150, 50, 0, 300)).toBe("middle");
    // Whatever the anchor, the label's extent lies within the frame.
    for (const x of [0, 10, 25, 40, 150, 270, 275, 290, 300]) {
      const anchor = labelAnchor(x, 50, 0, 300);
      const [a, b] = anchor === "start" ? [x, x + 50] : anchor === "end" ? [x - 50, x] : [x - 25, x + 25];
      expect(a).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThanOrEqual(300);
    }
  });
});

describe("zonal CSV", () => {
  it("quotes per RFC 4180 and leaves missing values empty", () => {
    expect(csvField('Field "north", 2')).toBe('"Field ""north"", 2"');
    expect(csvField(null)).toBe("");
    expect(csvField(Number.NaN)).toBe("");
    expect(csvField(0.25)).toBe("0.25");
  });

  it("orders columns: fixed ones, then percentiles numerically, then the rest", () => {
    const zones = [{ zone: "a", name: "North", count: 4, mean: 0.5, median: 0.5, std: 0.1, min: 0.3, max: 0.7, p90: 0.65, p10: 0.35, p2: 0.31, extra: 1 }];
    const columns = zoneColumns(zones);
    expect(columns).toEqual(["zone", "name", "count", "mean", "median", "std", "min", "max", "p2", "p10", "p90", "extra"]);
    const csv = toCsv(columns, [...zones, { zone: "b", name: null, count: 0, mean: null, median: null, std: null, min: null, max: null, p10: null, p90: null, p2: null }]);
    const lines = csv.trimEnd().split("\r\n");
    expect(lines[0]).toBe("zone,name,count,mean,median,std,min,max,p2,p10,p90,extra");
    expect(lines[1]).toBe("a,North,4,0.5,0.5,0.1,0.3,0.7,0.31,0.35,0.65,1");
    expect(lines[2]).toBe("b,,0,,,,,,,,,");
  });
});
