/**
 * JSON text <-> values without losing 64-bit integers.
 *
 * Change events carry int64 values (PostgreSQL int8 columns, LSNs, transaction ids) that may
 * exceed Number.MAX_SAFE_INTEGER. On the wire they are plain JSON numbers, as Kafka Connect's
 * JsonConverter writes them. In memory an integer that does not fit a double exactly is a
 * `bigint`. `stringifyJson` writes bigints as bare digits; `parseJson` returns bigints for
 * integer literals outside the safe range and plain numbers otherwise.
 */

// 16+ consecutive digits may be an unsafe integer. Spelled out: V8 scans this form about 10x
// faster than the equivalent /\d{16}/ (0.1 vs 0.9 us on a 400-byte change event).
const UNSAFE_INTEGER = /\d\d\d\d\d\d\d\d\d\d\d\d\d\d\d\d/;

export function parseJson(text: string): unknown {
  // Fast path: the native parser is exact when no number literal can exceed 2^53.
  if (!UNSAFE_INTEGER.test(text)) return JSON.parse(text);
  return new LosslessParser(text).parseDocument();
}

// JSON.stringify has no hook to emit raw number text, so a bigint goes through a marker string
// that is unquoted afterwards. The marker starts with NUL (always escaped as \u0000 in JSON
// output) followed by a per-process random nonce, so real string data cannot collide with it.
const NONCE = Math.random().toString(36).slice(2, 10);
const BIGINT_MARK = `\u0000bigint-${NONCE}:`;
const MARKER_TEXT = `\\u0000bigint-${NONCE}:`; // how the marker appears in JSON text
const MARKER_PATTERN = new RegExp(`"${MARKER_TEXT.replace(/\\/g, '\\\\')}(-?\\d+)"`, 'g');

function bigintReplacer(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? BIGINT_MARK + v.toString() : v;
}

/**
 * JSON of a flat object (a row or a source block) whose values are primitives, bigints or
 * nested JSON values; faster than stringifyJson for the common case of a few bigint fields
 * because it avoids the replacer. Output is identical to stringifyJson.
 */
export function stringifyFlat(o: Record<string, unknown> | null): string {
  if (o === null) return 'null';
  let bigint = false;
  for (const k in o) {
    if (typeof o[k] === 'bigint') {
      bigint = true;
      break;
    }
  }
  if (!bigint) {
    try {
      return JSON.stringify(o);
    } catch {
      return stringifyJson(o); // a bigint nested in an array or object value
    }
  }
  let out = '{';
  for (const k in o) {
    const v = o[k];
    let text: string;
    switch (typeof v) {
      case 'bigint':
        text = v.toString();
        break;
      case 'number':
        text = Number.isFinite(v) ? String(v) : 'null';
        break;
      case 'undefined':
      case 'function':
      case 'symbol':
        continue;
      default:
        text = v !== null && typeof v === 'object' ? stringifyJson(v) : JSON.stringify(v);
    }
    out += (out.length === 1 ? '' : ',') + quotedKey(k) + ':' + text;
  }
  return out + '}';
}

const quotedKeys = new Map<string, string>();
/** JSON.stringify of an object key, cached (rows and source blocks reuse a few names). */
function quotedKey(k: string): string {
  let q = quotedKeys.get(k);
  if (q === undefined) {
    q = JSON.stringify(k);
    if (quotedKeys.size < 10_000) quotedKeys.set(k, q);
  }
  return q;
}

/**
 * JSON of one property value of a flat object, exactly as stringifyFlat (and stringifyJson)
 * writes it; undefined for values JSON omits (undefined, functions, symbols).
 */
export function stringifyValue(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'bigint':
      return v.toString();
    case 'boolean':
      return v ? 'true' : 'false';
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    default:
      return v === null ? 'null' : stringifyJson(v);
  }
}

/** JSON of a number or bigint (non-finite numbers are null, as JSON.stringify writes them). */
export function stringifyNumber(v: number | bigint): string {
  return typeof v === 'bigint' ? v.toString() : Number.isFinite(v) ? String(v) : 'null';
}

export function stringifyJson(value: unknown): string {
  const text = JSON.stringify(value, bigintReplacer) ?? 'null';
  return text.includes(MARKER_TEXT) ? text.replace(MARKER_PATTERN, '$1') : text;
}

const NUMBER = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

class LosslessParser {
  private pos = 0;
  constructor(private readonly text: string) {}

  parseDocument(): unknown {
    const value = this.parseValue();
    this.skipWhitespace();
    if (this.pos !== this.text.length) this.fail('unexpected trailing characters');
    return value;
  }

  private parseValue(): unknown {
    this.skipWhitespace();
    const ch = this.text[this.pos];
    switch (ch) {
      case '{':
        return this.parseObject();
      case '[':
        return this.parseArray();
      case '"':
        return this.parseString();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      default:
        return this.parseNumber();
    }
  }

  private parseObject(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.pos++; // {
    this.skipWhitespace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.pos] !== '"') this.fail('expected a property name');
      const key = this.parseString();
      this.skipWhitespace();
      if (this.text[this.pos] !== ':') this.fail("expected ':'");
      this.pos++;
      const value = this.parseValue();
      if (key === '__proto__')
        Object.defineProperty(out, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      else out[key] = value;
      this.skipWhitespace();
      const sep = this.text[this.pos++];
      if (sep === '}') return out;
      if (sep !== ',') this.fail("expected ',' or '}'");
    }
  }

  private parseArray(): unknown[] {
    const out: unknown[] = [];
    this.pos++; // [
    this.skipWhitespace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.parseValue());
      this.skipWhitespace();
      const sep = this.text[this.pos++];
      if (sep === ']') return out;
      if (sep !== ',') this.fail("expected ',' or ']'");
    }
  }

  private parseString(): string {
    const start = this.pos;
    this.pos++; // opening quote
    for (;;) {
      const ch = this.text.charCodeAt(this.pos);
      if (Number.isNaN(ch)) this.fail('unterminated string');
      if (ch === 0x22) break; // closing quote
      this.pos += ch === 0x5c ? 2 : 1; // skip escaped character
    }
    this.pos++;
    // Delegate escape handling to the native parser on the exact string token.
    return JSON.parse(this.text.slice(start, this.pos)) as string;
  }

  private parseNumber(): number | bigint {
    // Sticky: the whole token from here, however long (JSON.parse takes any length too).
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (!match) this.fail('unexpected character');
    const token = match![0];
    this.pos += token.length;
    if (match![2] === undefined && match![3] === undefined) {
      const n = Number(token);
      return Number.isSafeInteger(n) ? n : BigInt(token);
    }
    return Number(token);
  }

  private literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail('unexpected token');
    this.pos += word.length;
    return value;
  }

  private skipWhitespace(): void {
    while (this.pos < this.text.length) {
      const ch = this.text.charCodeAt(this.pos);
      if (ch !== 0x20 && ch !== 0x0a && ch !== 0x0d && ch !== 0x09) return;
      this.pos++;
    }
  }

  private fail(what: string): never {
    throw new SyntaxError(`invalid JSON at position ${this.pos}: ${what}`);
  }
}
