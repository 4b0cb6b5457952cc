// JSON Schema → a small grammar of JSON value nodes, for constrained decoding.
// Covers the subset OpenAI's structured outputs accept: object (properties,
// required, additionalProperties), array (items, minItems, maxItems), string
// (minLength, maxLength), number, integer, boolean, null, enum, const, anyOf,
// type lists, nested objects, $defs / definitions with $ref (recursion
// included). Anything else (pattern, format, minimum, oneOf, …) is a
// UsageError naming the keyword, so a server answers 400 rather than
// generating something the schema would reject. Also the "any JSON value"
// grammar of json_object mode. Knows nothing about tokens or models: the
// recogniser (recognizer.ts) walks these nodes byte by byte.
//
// Decisions (see docs/generate.md, "Structured output"):
// - The output is compact JSON: no whitespace outside strings, so a random
//   model cannot pad forever and every byte moves the value forward.
// - Object properties come in the schema's order; optional ones may be
//   skipped. Extra properties are never generated (the output validates
//   whether additionalProperties is false, true or absent).
// - Strings use the escapes \" \\ \/ \b \f \n \r \t only (no \u), so a
//   string's length in code points is known byte by byte.
import { UsageError } from "../../errors.ts";

export interface Prop {
  name: string;
  /** The UTF-8 bytes of `"name":` (the key as JSON text plus the colon). */
  key: Uint8Array;
  node: number;
  required: boolean;
}

export type GrammarNode =
  | { kind: "object"; props: Prop[] }
  /** An object with any keys (additionalProperties a schema or true, no properties). */
  | { kind: "map"; value: number }
  | { kind: "array"; items: number; min: number; max: number }
  | { kind: "string"; min: number; max: number }
  | { kind: "number"; integer: boolean }
  /** One of a few JSON texts (enum, const, true/false/null), as UTF-8 bytes. */
  | { kind: "literal"; alts: Uint8Array[] }
  | { kind: "anyOf"; options: number[] };

export interface Grammar {
  nodes: GrammarNode[];
  root: number;
  /** Shortest JSON text of each node, in bytes (Infinity: the node has no finite value). */
  minLen: number[];
}

const enc = new TextEncoder();

/** Keywords that describe and never constrain: accepted and ignored. */
const ANNOTATIONS = new Set([
  "title",
  "description",
  "default",
  "examples",
  "$schema",
  "$id",
  "$comment",
  "deprecated",
  "readOnly",
  "writeOnly",
  "strict",
  "name",
]);
const KNOWN = new Set([
  "type",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "minItems",
  "maxItems",
  "minLength",
  "maxLength",
  "enum",
  "const",
  "anyOf",
  "$defs",
  "definitions",
  "$ref",
]);
const TYPES = new Set(["object", "array", "string", "number", "integer", "boolean", "null"]);
/** Cap on minItems / minLength, so a schema cannot ask for more output than any context holds. */
const MAX_MIN = 4096;

type Schema = Record<string, unknown>;

function fail(path: string, message: string, hint?: string): never {
  throw new UsageError(`json schema ${path}: ${message}`, hint ? { hint } : undefined);
}

function isObj(x: unknown): x is Schema {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function nonNegInt(s: Schema, k: string, path: string): number | undefined {
  const v = s[k];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) fail(`${path}.${k}`, `must be an integer >= 0, got ${JSON.stringify(v)}`);
  return v;
}

function matchesType(v: unknown, t: string): boolean {
  switch (t) {
    case "null":
      return v === null;
    case "boolean":
      return typeof v === "boolean";
    case "string":
      return typeof v === "string";
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "array":
      return Array.isArray(v);
    case "object":
      return isObj(v);
  }
  return false;
}

class Compiler {
  readonly nodes: GrammarNode[] = [];
  private readonly refs = new Map<string, number>();
  private anyNode = -1;

  constructor(private readonly root: Schema) {}

  add(n: GrammarNode): number {
    this.nodes.push(n);
    return this.nodes.length - 1;
  }

  /** The node for "any JSON value" (json_object mode, `{}` and `true` schemas). */
  any(): number {
    if (this.anyNode >= 0) return this.anyNode;
    const id = this.add({ kind: "anyOf", options: [] });
    this.anyNode = id;
    const options = [
      this.add({ kind: "map", value: id }),
      this.add({ kind: "array", items: id, min: 0, max: Infinity }),
      this.add({ kind: "string", min: 0, max: Infinity }),
      this.add({ kind: "number", integer: false }),
      this.add({ kind: "literal", alts: [enc.encode("true"), enc.encode("false"), enc.encode("null")] }),
    ];
    this.nodes[id] = { kind: "anyOf", options };
    return id;
  }

  private ref(ref: unknown, path: string): number {
    if (typeof ref !== "string") fail(`${path}.$ref`, "must be a string");
    const known = this.refs.get(ref);
    if (known !== undefined) return known;
    let target: unknown;
    if (ref === "#") target = this.root;
    else {
      const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
      if (!m) fail(`${path}.$ref`, `only local references "#", "#/$defs/NAME" and "#/definitions/NAME" are supported, got ${JSON.stringify(ref)}`);
      const defs = this.root[m[1]!];
      const name = m[2]!.replace(/~1/g, "/").replace(/~0/g, "~");
      target = isObj(defs) ? defs[name] : undefined;
      if (target === undefined) fail(`${path}.$ref`, `${JSON.stringify(ref)} names no definition`);
    }
    // A placeholder first, so a recursive reference finds this id.
    const id = this.add({ kind: "anyOf", options: [] });
    this.refs.set(ref, id);
    const inner = this.compile(target, ref);
    this.nodes[id] = { kind: "anyOf", options: [inner] };
    return id;
  }

  compile(s: unknown, path: string): number {
    if (s === true) return this.any();
    if (!isObj(s)) fail(path, `a schema must be an object, got ${JSON.stringify(s)}`);
    for (const k of Object.keys(s)) {
      if (!KNOWN.has(k) && !ANNOTATIONS.has(k))
        fail(
          path,
          `the keyword "${k}" is not supported for constrained decoding`,
          "supported: type, properties, required, additionalProperties, items, minItems, maxItems, minLength, maxLength, enum, const, anyOf, $defs, $ref",
        );
    }
    if (s.$ref !== undefined) {
      const others = Object.keys(s).filter((k) => k !== "$ref" && !ANNOTATIONS.has(k) && k !== "$defs" && k !== "definitions");
      if (others.length > 0) fail(path, `"$ref" beside other keywords (${others.join(", ")}) is not supported`);
      return this.ref(s.$ref, path);
    }
    let types: string[] | undefined;
    if (s.type !== undefined) {
      types = typeof s.type === "string" ? [s.type] : Array.isArray(s.type) ? (s.type as unknown[]).map(String) : undefined;
      if (!types || types.length === 0) fail(`${path}.type`, "must be a type name or a non-empty array of them");
      for (const t of types) if (!TYPES.has(t)) fail(`${path}.type`, `unknown type ${JSON.stringify(t)}`);
    }
    if (s.enum !== undefined || s.const !== undefined) {
      let values: unknown[];
      if (s.const !== undefined) values = [s.const];
      else {
        if (!Array.isArray(s.enum) || s.enum.length === 0) fail(`${path}.enum`, "must be a non-empty array");
        values = s.enum as unknown[];
      }
      if (s.const !== undefined && s.enum !== undefined)
        values = values.filter((v) => (s.enum as unknown[]).some((e) => JSON.stringify(e) === JSON.stringify(v)));
      if (types) values = values.filter((v) => types!.some((t) => matchesType(v, t)));
      if (values.length === 0) fail(path, "no value satisfies both the enum/const and the type");
      const alts = [...new Set(values.map((v) => JSON.stringify(v)))].map((t) => enc.encode(t));
      return this.add({ kind: "literal", alts });
    }
    if (s.anyOf !== undefined) {
      if (!Array.isArray(s.anyOf) || s.anyOf.length === 0) fail(`${path}.anyOf`, "must be a non-empty array of schemas");
      const rest = Object.keys(s).filter((k) => !ANNOTATIONS.has(k) && k !== "anyOf" && k !== "$defs" && k !== "definitions");
      if (rest.length > 0) fail(path, `"anyOf" beside other keywords (${rest.join(", ")}) is not supported; move them into each branch`);
      return this.add({ kind: "anyOf", options: (s.anyOf as unknown[]).map((b, i) => this.compile(b, `${path}.anyOf[${i}]`)) });
    }
    if (!types) {
      if (s.properties !== undefined || s.required !== undefined || s.additionalProperties !== undefined) types = ["object"];
      else if (s.items !== undefined || s.minItems !== undefined || s.maxItems !== undefined) types = ["array"];
      else if (s.minLength !== undefined || s.maxLength !== undefined) types = ["string"];
      else return this.any();
    }
    const ids = types.map((t) => this.typed(s, t, path));
    return ids.length === 1 ? ids[0]! : this.add({ kind: "anyOf", options: ids });
  }

  private typed(s: Schema, t: string, path: string): number {
    switch (t) {
      case "null":
        return this.add({ kind: "literal", alts: [enc.encode("null")] });
      case "boolean":
        return this.add({ kind: "literal", alts: [enc.encode("true"), enc.encode("false")] });
      case "number":
        return this.add({ kind: "number", integer: false });
      case "integer":
        return this.add({ kind: "number", integer: true });
      case "string": {
        const min = nonNegInt(s, "minLength", path) ?? 0;
        const max = nonNegInt(s, "maxLength", path) ?? Infinity;
        if (min > max) fail(path, `minLength ${min} is more than maxLength ${max}`);
        if (min > MAX_MIN) fail(`${path}.minLength`, `${min} is more than ${MAX_MIN}`);
        return this.add({ kind: "string", min, max });
      }
      case "array": {
        const min = nonNegInt(s, "minItems", path) ?? 0;
        const max = nonNegInt(s, "maxItems", path) ?? Infinity;
        if (min > max) fail(path, `minItems ${min} is more than maxItems ${max}`);
        if (min > MAX_MIN) fail(`${path}.minItems`, `${min} is more than ${MAX_MIN}`);
        if (Array.isArray(s.items)) fail(`${path}.items`, "tuple items (an array of schemas) are not supported");
        const items = s.items === undefined ? this.any() : this.compile(s.items, `${path}.items`);
        return this.add({ kind: "array", items, min, max });
      }
      case "object": {
        const props = s.properties;
        if (props !== undefined && !isObj(props)) fail(`${path}.properties`, "must be an object of schemas");
        const req = s.required ?? [];
        if (!Array.isArray(req) || req.some((r) => typeof r !== "string")) fail(`${path}.required`, "must be an array of property names");
        const names = Object.keys(props ?? {});
        for (const r of req as string[])
          if (!names.includes(r))
            fail(`${path}.required`, `names "${r}", which is not in properties`, "every required property must be declared in properties");
        const ap = s.additionalProperties;
        if (ap !== undefined && typeof ap !== "boolean" && !isObj(ap)) fail(`${path}.additionalProperties`, "must be a boolean or a schema");
        if (names.length === 0 && ap !== false) {
          // Any keys: a map whose values follow additionalProperties (any value when true or absent).
          return this.add({ kind: "map", value: isObj(ap) ? this.compile(ap, `${path}.additionalProperties`) : this.any() });
        }
        const id = this.add({ kind: "object", props: [] });
        const list: Prop[] = names.map((name) => ({
          name,
          key: enc.encode(`${JSON.stringify(name)}:`),
          node: this.compile(props![name], `${path}.properties.${name}`),
          required: (req as string[]).includes(name),
        }));
        this.nodes[id] = { kind: "object", props: list };
        return id;
      }
    }
    return fail(path, `unknown type ${t}`);
  }
}

/** Shortest JSON text of every node, by fixpoint iteration (recursive references converge). */
function minLengths(nodes: GrammarNode[]): number[] {
  const m = new Array<number>(nodes.length).fill(Infinity);
  for (let changed = true; changed; ) {
    changed = false;
    nodes.forEach((n, i) => {
      let v = Infinity;
      switch (n.kind) {
        case "object": {
          const req = n.props.filter((p) => p.required);
          v = 2 + Math.max(0, req.length - 1) + req.reduce((a, p) => a + p.key.length + m[p.node]!, 0);
          break;
        }
        case "map":
          v = 2;
          break;
        case "array":
          v = n.min === 0 ? 2 : 2 + n.min * m[n.items]! + (n.min - 1);
          break;
        case "string":
          v = 2 + n.min;
          break;
        case "number":
          v = 1;
          break;
        case "literal":
          v = Math.min(...n.alts.map((a) => a.length));
          break;
        case "anyOf":
          v = Math.min(...n.options.map((o) => m[o]!));
          break;
      }
      if (v < m[i]!) {
        m[i] = v;
        changed = true;
      }
    });
  }
  return m;
}

function finish(c: Compiler, root: number): Grammar {
  const minLen = minLengths(c.nodes);
  if (!Number.isFinite(minLen[root]!)) throw new UsageError("json schema: it admits no finite JSON value (every branch recurses forever)");
  return { nodes: c.nodes, root, minLen };
}

/** Compiles a JSON Schema (an object, or `true`); throws UsageError naming an unsupported or invalid keyword. */
export function compileSchema(schema: unknown): Grammar {
  if (schema !== true && !isObj(schema)) throw new UsageError(`json schema: must be a JSON object, got ${JSON.stringify(schema)}`);
  const c = new Compiler(isObj(schema) ? schema : {});
  return finish(c, c.compile(schema, "#"));
}

/** json_object mode: any JSON object (keys and values unconstrained). */
export function jsonObjectGrammar(): Grammar {
  const c = new Compiler({});
  const any = c.any();
  return finish(c, c.add({ kind: "map", value: any }));
}
