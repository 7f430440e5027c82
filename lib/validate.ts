// validate.ts — checks for user-facing options, with one message format:
//   "Expected <what> for <name> but received <value>".
// Realm-safe: typed arrays are recognised by their tag, never by instanceof (jest and vm contexts have other
// Float32Array constructors).

export function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'function') return 'a function';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  const tag = Object.prototype.toString.call(v).slice(8, -1);
  if (tag.endsWith('Array') && typeof (v as { length?: unknown }).length === 'number')
    return `${tag} of length ${(v as { length: number }).length}`;
  return `an object (${tag})`;
}

export function fail(name: string, what: string, value: unknown, kind: 'type' | 'range' = 'range'): never {
  return failReceived(name, what, describeValue(value), kind);
}

/** As fail, with the received part already written out (e.g. "NaN at row 3, column 7"). */
export function failReceived(name: string, what: string, received: string, kind: 'type' | 'range' = 'range'): never {
  const message = `Expected ${what} for ${name} but received ${received}`;
  throw kind === 'type' ? new TypeError(message) : new RangeError(message);
}

export function isFloat32Array(v: unknown): v is Float32Array {
  return Object.prototype.toString.call(v) === '[object Float32Array]';
}

export function integer(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const what = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
  if (typeof v !== 'number') fail(name, what, v, 'type');
  if (!Number.isInteger(v) || v < min || v > max) fail(name, what, v);
  return v;
}

export function finiteNumber(name: string, v: unknown, opts: { min?: number; max?: number; exclusiveMin?: boolean; exclusiveMax?: boolean } = {}): number {
  const { min, max, exclusiveMin, exclusiveMax } = opts;
  const bounds = [min !== undefined ? `${exclusiveMin ? '>' : '>='} ${min}` : '', max !== undefined ? `${exclusiveMax ? '<' : '<='} ${max}` : '']
    .filter(Boolean)
    .join(' and ');
  const what = `a finite number${bounds ? ' ' + bounds : ''}`;
  if (typeof v !== 'number') fail(name, what, v, 'type');
  if (!Number.isFinite(v)) fail(name, what, v);
  if (min !== undefined && (exclusiveMin ? v <= min : v < min)) fail(name, what, v);
  if (max !== undefined && (exclusiveMax ? v >= max : v > max)) fail(name, what, v);
  return v;
}

export function oneOf<T extends string>(name: string, v: unknown, choices: readonly T[]): T {
  const what = `one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`;
  if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) fail(name, what, v, typeof v === 'string' ? 'range' : 'type');
  return v as T;
}

export function boolean(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail(name, 'a boolean', v, 'type');
  return v;
}

export function plainObject(name: string, v: unknown): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(name, 'an options object', v, 'type');
  return v as Record<string, unknown>;
}

/** Rejects keys a caller did not mean (a typo would otherwise silently fall back to a default). */
export function knownKeys(name: string, o: Record<string, unknown>, keys: readonly string[]): void {
  for (const k of Object.keys(o))
    if (!keys.includes(k)) fail(`${name}.${k}`, `no such option (known: ${keys.join(', ')})`, o[k], 'type');
}
