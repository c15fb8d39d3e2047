// The API's own OpenAPI document (served at /docs/json) as test input: each operation's
// parameters and body schema, a minimal valid example of a schema, and fast-check arbitraries
// that produce values near and outside it. Issue 16 points 5 and 7.
import fc from 'fast-check';

export interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema | JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number | boolean;
  nullable?: boolean;
  default?: unknown;
  pattern?: string;
  format?: string;
  additionalProperties?: boolean | JsonSchema;
}

export interface Parameter {
  name: string;
  in: 'query' | 'path' | 'header' | 'cookie';
  required?: boolean;
  schema?: JsonSchema;
}

export interface Operation {
  method: string;
  /** Fastify form: /api/incidents/:id */
  url: string;
  params: Parameter[];
  body: JsonSchema | undefined;
}

interface Doc {
  paths: Record<string, Record<string, { parameters?: Parameter[]; requestBody?: { content: Record<string, { schema: JsonSchema }> } }>>;
}

export function operationsOf(doc: Doc): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      ops.push({
        method: method.toUpperCase(),
        url: path.replace(/\{(\w+)\}/g, ':$1'),
        params: op.parameters ?? [],
        body: op.requestBody?.content['application/json']?.schema,
      });
    }
  }
  return ops;
}

const typeOf = (s: JsonSchema): string | undefined => (Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type);

/** A minimal value the schema accepts: required properties only, first enum member, shortest string. */
export function exampleOf(s: JsonSchema | undefined): unknown {
  if (!s) return undefined;
  if (s.const !== undefined) return s.const;
  if (s.enum) return s.enum[0];
  if (s.default !== undefined) return s.default;
  const alt = s.anyOf ?? s.oneOf;
  if (alt) return exampleOf(alt.find((x) => typeOf(x) !== 'null') ?? alt[0]);
  if (s.allOf) return Object.assign({}, ...s.allOf.map((x) => exampleOf(x) as object));
  switch (typeOf(s)) {
    case 'object': {
      const o: Record<string, unknown> = {};
      for (const k of s.required ?? []) o[k] = exampleOf(s.properties?.[k]);
      return o;
    }
    case 'array': return [];
    case 'string': return 'x'.repeat(Math.max(1, s.minLength ?? 1));
    case 'integer':
    case 'number': return typeof s.minimum === 'number' ? s.minimum : 1;
    case 'boolean': return false;
    default: return {};
  }
}

/** Values of the schema's type with hostile edges (empty, huge, unicode, NUL), plus anything at all. */
export function arbitraryOf(s: JsonSchema | undefined, depth = 0): fc.Arbitrary<unknown> {
  const junk = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(null), fc.string({ unit: 'binary', maxLength: 40 }));
  if (!s || depth > 3) return junk;
  const alt = s.anyOf ?? s.oneOf;
  let typed: fc.Arbitrary<unknown>;
  if (s.enum) typed = fc.constantFrom(...s.enum);
  else if (alt) typed = fc.oneof(...alt.map((x) => arbitraryOf(x, depth + 1)));
  else {
    switch (typeOf(s)) {
      case 'object': {
        const props = Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, arbitraryOf(v, depth + 1)]));
        typed = fc.record(props, { requiredKeys: [] });
        break;
      }
      case 'array': typed = fc.array(arbitraryOf(Array.isArray(s.items) ? s.items[0] : s.items, depth + 1), { maxLength: 4 }); break;
      case 'string': typed = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.constant(''), fc.constant('\u0000'), fc.constant('x'.repeat(5000))); break;
      case 'integer': typed = fc.oneof(fc.integer(), fc.constantFrom(0, -1, Number.MAX_SAFE_INTEGER)); break;
      case 'number': typed = fc.oneof(fc.double(), fc.integer()); break;
      case 'boolean': typed = fc.boolean(); break;
      default: typed = junk;
    }
  }
  // Mostly the right shape (to reach the handler), sometimes anything.
  return fc.oneof({ weight: 4, arbitrary: typed }, { weight: 1, arbitrary: junk });
}

/** Query-string text for a value: strings as they are, everything else as JSON. */
export function queryText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v) ?? '';
}
