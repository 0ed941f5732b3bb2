/**
 * jsonpos.ts finds where values sit in a JSON text, so that a validation
 * problem's location (RFC 9457 errors[].location, such as
 * "body.document.steps[0].request.url") can be shown next to its line.
 */

/** Span is where a value sits: its first and last-plus-one character offsets, and its first line (from 1). */
export interface Span {
  start: number;
  end: number;
  line: number;
}

/** JSONSyntaxError is a parse error with the line and column (from 1) where it happened. */
export class JSONSyntaxError extends Error {
  readonly offset: number;
  readonly line: number;
  readonly column: number;

  constructor(message: string, text: string, offset: number) {
    const { line, column } = lineColumn(text, offset);
    super(`${message} at line ${line}, column ${column}`);
    this.name = "JSONSyntaxError";
    this.offset = offset;
    this.line = line;
    this.column = column;
  }
}

/** lineColumn returns the line and column (both from 1) of an offset in text. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

/**
 * spans parses text as JSON and returns the span of every value, keyed by
 * its path: "" for the root, "name", "document.steps[0].request.url".
 * It throws a JSONSyntaxError for text that is not JSON.
 */
export function spans(text: string): Map<string, Span> {
  const out = new Map<string, Span>();
  let i = 0;

  const fail = (msg: string): never => {
    throw new JSONSyntaxError(msg, text, i);
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i] as string)) i++;
  };
  const record = (path: string, start: number) => {
    out.set(path, { start, end: i, line: lineColumn(text, start).line });
  };
  const str = (): string => {
    if (text[i] !== '"') fail("expected a string");
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") i++;
      if (text.charCodeAt(i) < 0x20) fail("control character in a string");
      i++;
    }
    if (i >= text.length) fail("unterminated string");
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (path: string) => {
    ws();
    const start = i;
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") {
        i++;
      } else {
        for (;;) {
          ws();
          const key = str();
          ws();
          if (text[i] !== ":") fail("expected ':'");
          i++;
          value(path ? `${path}.${key}` : key);
          ws();
          if (text[i] === ",") {
            i++;
            continue;
          }
          if (text[i] === "}") {
            i++;
            break;
          }
          fail("expected ',' or '}'");
        }
      }
    } else if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
      } else {
        for (let n = 0; ; n++) {
          value(`${path}[${n}]`);
          ws();
          if (text[i] === ",") {
            i++;
            continue;
          }
          if (text[i] === "]") {
            i++;
            break;
          }
          fail("expected ',' or ']'");
        }
      }
    } else if (c === '"') {
      str();
    } else {
      const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
      if (!m) fail("unexpected character");
      i += (m as RegExpExecArray)[0].length;
    }
    record(path, start);
  };

  value("");
  ws();
  if (i < text.length) fail("unexpected text after the value");
  return out;
}

/**
 * locate returns the span for a problem location such as
 * "body.document.steps[0].request.url": the value itself, or, when it is
 * missing (a required field left out), the nearest enclosing value that
 * exists. prefix is dropped from the location first ("body").
 */
export function locate(map: Map<string, Span>, location: string | undefined, prefix = "body"): Span | undefined {
  if (!location) return undefined;
  let path = location;
  if (path === prefix) path = "";
  else if (path.startsWith(`${prefix}.`)) path = path.slice(prefix.length + 1);
  else if (path.startsWith(`${prefix}[`)) path = path.slice(prefix.length);
  for (;;) {
    const hit = map.get(path);
    if (hit) return hit;
    if (path === "") return undefined;
    const cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
    path = cut > 0 ? path.slice(0, cut) : "";
  }
}
