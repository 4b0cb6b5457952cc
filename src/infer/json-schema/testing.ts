// Test helpers for constrained decoding: seeded random JSON Schemas over the
// supported subset (the acceptance run's 200 schemas come from here), and a
// synthetic byte-level vocabulary with multi-byte tokens that straddle JSON
// structure and split UTF-8 characters. Not used by the library itself.
import type { Rng } from "../../util/rng.ts";

type Schema = Record<string, unknown>;

const WORDS = ["name", "age", "id", "tags", "city", "ok", "score", "items", "kind", "note", "é", "日本", "a b", 'x"y'];

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

/** A random schema of the supported subset; depth bounds nesting. Every schema has a finite value. */
export function randomSchema(rng: Rng, depth = 3): Schema {
  const leafKinds = ["string", "number", "integer", "boolean", "null", "enum", "const"];
  const kinds = depth > 0 ? [...leafKinds, "object", "object", "array", "anyOf", "nullable"] : leafKinds;
  const kind = pick(rng, kinds);
  switch (kind) {
    case "string": {
      const s: Schema = { type: "string" };
      if (rng.uniform() < 0.4) s.maxLength = 1 + rng.int(12);
      if (rng.uniform() < 0.3) s.minLength = Math.min(rng.int(4), (s.maxLength as number | undefined) ?? 4);
      return s;
    }
    case "number":
    case "integer":
    case "boolean":
    case "null":
      return { type: kind, ...(rng.uniform() < 0.3 ? { description: `a ${kind}` } : {}) };
    case "enum":
      return rng.uniform() < 0.5 ? { type: "string", enum: ["red", "green", "blue", "日本"].slice(0, 1 + rng.int(4)) } : { enum: [1, 12, "12", null, true] };
    case "const":
      return { const: pick(rng, ["fixed", 42, false, "ü"]) };
    case "nullable":
      // OpenAI's two spellings of an optional value: a type list, or anyOf with null.
      return rng.uniform() < 0.5
        ? { type: [pick(rng, ["string", "integer", "number", "boolean"]), "null"] }
        : { anyOf: [randomSchema(rng, depth - 1), { type: "null" }] };
    case "anyOf":
      return { anyOf: [randomSchema(rng, depth - 1), randomSchema(rng, depth - 1)] };
    case "array": {
      const s: Schema = { type: "array", items: randomSchema(rng, depth - 1) };
      if (rng.uniform() < 0.4) s.minItems = rng.int(3);
      if (rng.uniform() < 0.4) s.maxItems = ((s.minItems as number | undefined) ?? 0) + rng.int(4);
      return s;
    }
    default: {
      const n = 1 + rng.int(4);
      const props: Record<string, Schema> = {};
      const names = new Set<string>();
      while (names.size < n) names.add(pick(rng, WORDS));
      for (const k of names) props[k] = randomSchema(rng, depth - 1);
      const all = rng.uniform() < 0.6; // OpenAI strict mode: every property required
      const required = [...names].filter(() => all || rng.uniform() < 0.5);
      return { type: "object", properties: props, required, additionalProperties: false };
    }
  }
}

/** Removes keys whose value is undefined (the "nullable" case above leaves some), recursively. */
export function clean<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

/** A top-level object schema (what response_format json_schema usually holds), sometimes with $defs and a recursive $ref. */
export function randomTopSchema(rng: Rng): Schema {
  const s = randomSchema(rng, 3);
  const top: Schema = s.type === "object" ? s : { type: "object", properties: { value: s }, required: ["value"], additionalProperties: false };
  if (rng.uniform() < 0.1) {
    // The older spelling: definitions, referenced from a property.
    top.definitions = {
      amount: {
        type: "object",
        properties: { value: { type: "number" }, unit: { enum: ["kg", "g"] } },
        required: ["value", "unit"],
        additionalProperties: false,
      },
    };
    (top.properties as Record<string, unknown>).amount = { $ref: "#/definitions/amount" };
    (top.required as string[]).push("amount");
  } else if (rng.uniform() < 0.3) {
    top.$defs = {
      node: {
        type: "object",
        properties: { label: { type: "string", maxLength: 8 }, children: { type: "array", items: { $ref: "#/$defs/node" }, maxItems: 2 } },
        required: ["label", "children"],
        additionalProperties: false,
      },
    };
    (top.properties as Record<string, unknown>).tree = { $ref: "#/$defs/node" };
    (top.required as string[]).push("tree");
  }
  return clean(top);
}

/**
 * A synthetic vocabulary: the 256 single bytes, then multi-byte tokens that cross JSON structure
 * (`{"`, `":`, `","`, `"}`, `},{`, `[1,`, …), words, numbers, and pieces of UTF-8 characters
 * (the first two bytes of "日", its last byte, "é" whole). Id `V-1` is an end-of-sequence token with no bytes.
 */
export function syntheticVocab(): (Uint8Array | null)[] {
  const enc = new TextEncoder();
  const out: (Uint8Array | null)[] = [];
  for (let b = 0; b < 256; b++) out.push(Uint8Array.of(b));
  const pieces = [
    '{"',
    '":',
    '","',
    '"}',
    "},{",
    "[1,",
    "],",
    "null",
    "true",
    "false",
    "12",
    "3.5",
    "-0",
    "1e5",
    '":"',
    '":[',
    "name",
    "age",
    "red",
    "green",
    "日本",
    "é",
    " ",
    "\\n",
    "\\u00e9",
    '\\"',
    "ab",
    "abc",
    "hello world",
    "}}",
    "]}",
    '"]',
    "0,",
    "e+",
  ];
  for (const p of pieces) out.push(enc.encode(p));
  const ri = enc.encode("日");
  out.push(ri.subarray(0, 2), ri.subarray(2));
  out.push(null); // end of sequence
  return out;
}
