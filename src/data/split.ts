// Train/validation split by document: every document goes to exactly one
// split, chosen by a seeded hash of its id, so the choice is deterministic,
// independent of input order, and stable for documents that stay when others
// are added. Exactly round(fraction × n) documents go to validation (at least
// one when fraction > 0 and there are two or more documents; never all).
// Knows nothing about text or tokens.
import { createHash } from "node:crypto";

export function splitDocuments(ids: string[], valFraction: number, seed: number): { train: Set<string>; val: Set<string> } {
  const scored = ids.map((id) => ({ id, score: createHash("sha1").update(`${seed}\0${id}`).digest().readUIntBE(0, 6) }));
  scored.sort((a, b) => a.score - b.score || (a.id < b.id ? -1 : 1));
  let nVal = Math.round(valFraction * ids.length);
  if (valFraction > 0 && ids.length >= 2) nVal = Math.max(1, nVal);
  nVal = Math.min(nVal, Math.max(0, ids.length - 1));
  const val = new Set(scored.slice(0, nVal).map((s) => s.id));
  const train = new Set(ids.filter((id) => !val.has(id)));
  return { train, val };
}
