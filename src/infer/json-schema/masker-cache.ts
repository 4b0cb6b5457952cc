// Compiled schemas per vocabulary: one JsonMasker per distinct schema (keyed by
// its JSON text), least recently used dropped beyond a cap, so requests that
// repeat a schema reuse its compiled grammar and its cached token masks. The
// vocabulary index is built once, on first use. Token bytes only.
import { compileSchema, jsonObjectGrammar } from "./grammar.ts";
import { JsonMasker, TokenIndex } from "./token-mask.ts";

/** Default number of schemas kept compiled per vocabulary. */
export const DEFAULT_SCHEMA_CACHE = 32;

export class MaskerCache {
  private index?: TokenIndex;
  private readonly maskers = new Map<string, JsonMasker>();

  /** `bytes()` gives each id's bytes (null for ids never written as JSON: special and padding ids); called once. */
  constructor(
    private readonly bytes: () => readonly (Uint8Array | null | undefined)[],
    private readonly cap = DEFAULT_SCHEMA_CACHE,
  ) {}

  /** The vocabulary index (built on first call). */
  tokenIndex(): TokenIndex {
    this.index ??= new TokenIndex(this.bytes());
    return this.index;
  }

  /** The masker for a JSON Schema, or for any JSON object (schema undefined). Throws UsageError for an unsupported schema. */
  get(schema: unknown | undefined): JsonMasker {
    const key = schema === undefined ? "" : JSON.stringify(schema);
    const hit = this.maskers.get(key);
    if (hit) {
      this.maskers.delete(key);
      this.maskers.set(key, hit);
      return hit;
    }
    const grammar = schema === undefined ? jsonObjectGrammar() : compileSchema(schema);
    const m = new JsonMasker(grammar, this.tokenIndex());
    this.maskers.set(key, m);
    if (this.maskers.size > this.cap) this.maskers.delete(this.maskers.keys().next().value as string);
    return m;
  }
}
