// Unit tests of the dashboard's pure helpers (no browser): where a problem
// location points in the plan JSON, and how values are written for people.
import { expect, test } from "@playwright/test";
import { formatAgo, formatDuration, formatPercent } from "../src/format.js";
import { JSONSyntaxError, locate, spans } from "../src/jsonpos.js";

test.describe("jsonpos", () => {
  const text = JSON.stringify(
    { name: "x", document: { steps: [{ name: "a", request: { method: "GET" } }, { assert: { status: [999] } }] } },
    null,
    2,
  );
  const lines = text.split("\n");
  const lineOf = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;

  test("a location names the line and the exact value", () => {
    const map = spans(text);
    const hit = locate(map, "body.document.steps[1].assert.status[0]");
    expect(hit?.line).toBe(lineOf("999"));
    expect(text.slice(hit!.start, hit!.end)).toBe("999");
    expect(text.slice(map.get("name")!.start, map.get("name")!.end)).toBe('"x"');
  });

  test("a missing field points at the object that lacks it", () => {
    const map = spans(text);
    const hit = locate(map, "body.document.steps[0].request.url");
    expect(hit?.line).toBe(lineOf('"request"'));
    expect(text.slice(hit!.start, hit!.end)).toMatch(/^\{[\s\S]*"GET"[\s\S]*\}$/);
  });

  test("the root and unknown prefixes", () => {
    const map = spans(text);
    expect(locate(map, "body")?.line).toBe(1);
    expect(locate(map, undefined)).toBeUndefined();
    expect(locate(map, "body.nothing.here")?.line).toBe(1);
  });

  test("text that is not JSON is reported with its line and column", () => {
    for (const [bad, line, column] of [
      ['{\n  "a": 1,\n  oops\n}', 3, 3],
      ['{"a": [1, 2}', 1, 12],
      ['{"a": "unterminated', 1, 20],
      ["[1] 2", 1, 5],
    ] as const) {
      let err: unknown;
      try {
        spans(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(JSONSyntaxError);
      expect([(err as JSONSyntaxError).line, (err as JSONSyntaxError).column], bad).toEqual([line, column]);
    }
  });

  test("strings with escapes and nested values parse as JSON.parse does", () => {
    const tricky = '{"a\\"b": ["x\\u0041", {"c": -1.5e3, "d": [true, false, null]}], "e": {}}';
    const map = spans(tricky);
    expect(map.has('a"b[1].d[2]')).toBe(true);
    expect(tricky.slice(map.get('a"b[1].c')!.start, map.get('a"b[1].c')!.end)).toBe("-1.5e3");
  });
});

test.describe("format", () => {
  test("durations", () => {
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(1234)).toBe("1.23 s");
    expect(formatDuration(12_345)).toBe("12.3 s");
    expect(formatDuration(245_000)).toBe("4 min 05 s");
    expect(formatDuration(7_380_000)).toBe("2 h 03 min");
    expect(formatDuration(null)).toBe("—");
  });

  test("ages and percentages", () => {
    const now = Date.parse("2026-01-02T12:00:00Z");
    expect(formatAgo("2026-01-02T11:59:48Z", now)).toBe("12 s ago");
    expect(formatAgo("2026-01-02T11:55:00Z", now)).toBe("5 min ago");
    expect(formatAgo("2026-01-02T12:05:00Z", now)).toBe("in 5 min");
    expect(formatAgo("2025-12-31T12:00:00Z", now)).toBe("2 d ago");
    expect(formatPercent(0.9322, 1)).toBe("93.2 %");
    expect(formatPercent(null)).toBe("—");
  });
});
