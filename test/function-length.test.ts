// No function in src/ is longer than MAX_LINES lines, except those on the
// allow-list below, each with the reason it stays whole. Functions are found
// with the TypeScript compiler's parser: declarations, methods, accessors,
// constructors, function expressions and arrow functions, measured from their
// first line to their last (a nested function counts inside its parent too).
// Test files (*.test.ts) are not measured. An allow-list entry that no longer
// names a long function fails too, so the list cannot go stale.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { test } from "node:test";

import ts from "typescript";

const MAX_LINES = 150;
const root = join(import.meta.dirname, "..");

/** "path#qualified.name" → why this function stays longer than MAX_LINES. */
const ALLOWED: Record<string, string> = {};

interface Measured {
  key: string;
  lines: number;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (e.endsWith(".ts") && !e.endsWith(".test.ts") && !e.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

function nameOf(node: ts.Node): string | undefined {
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isGetAccessor(node) || ts.isSetAccessor(node)) && node.name)
    return node.name.getText();
  if (ts.isConstructorDeclaration(node)) return "constructor";
  if (ts.isClassDeclaration(node) || ts.isClassExpression(node)) return node.name?.getText();
  const p = node.parent;
  if ((ts.isArrowFunction(node) || ts.isFunctionExpression(node) || ts.isObjectLiteralExpression(node)) && p) {
    if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) return p.name.getText();
  }
  return undefined;
}

/** Every function of one file with its qualified name (enclosing named scopes joined by "."; anonymous ones by position). */
export function measure(path: string, text: string): Measured[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Measured[] = [];
  const seen = new Map<string, number>();
  const lineOf = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line;
  const visit = (node: ts.Node, scope: string[]) => {
    const isFn = ts.isFunctionLike(node) && "body" in node && node.body !== undefined;
    const name = nameOf(node);
    let inner = scope;
    if (isFn) {
      const base = [...scope, name ?? "(anonymous)"].join(".");
      const n = (seen.get(base) ?? 0) + 1;
      seen.set(base, n);
      const key = n === 1 ? base : `${base}#${n}`;
      out.push({ key, lines: lineOf(node.getEnd()) - lineOf(node.getStart(sf)) + 1 });
      inner = [...scope, name ?? "(anonymous)"];
    } else if (name !== undefined && (ts.isClassDeclaration(node) || ts.isClassExpression(node) || ts.isObjectLiteralExpression(node))) {
      inner = [...scope, name];
    }
    ts.forEachChild(node, (c) => visit(c, inner));
  };
  visit(sf, []);
  return out;
}

test("the measurer names and measures functions, methods and arrows", () => {
  const src = [
    "function f() {",
    "  const g = () => {",
    "    return 1;",
    "  };",
    "  return g;",
    "}",
    "class C {",
    "  m() { return [1].map((x) => x); }",
    "}",
    "export const cmd = { run() {} };",
  ].join("\n");
  assert.deepEqual(measure("x.ts", src), [
    { key: "f", lines: 6 },
    { key: "f.g", lines: 3 },
    { key: "C.m", lines: 1 },
    { key: "C.m.(anonymous)", lines: 1 },
    { key: "cmd.run", lines: 1 },
  ]);
});

test(`no function in src/ is longer than ${MAX_LINES} lines, except the allowed ones`, () => {
  const long = new Map<string, number>();
  for (const p of sourceFiles(join(root, "src"))) {
    const rel = relative(root, p).split(sep).join("/");
    for (const m of measure(rel, readFileSync(p, "utf8"))) if (m.lines > MAX_LINES) long.set(`${rel}#${m.key}`, m.lines);
  }
  const over = [...long].filter(([k]) => !(k in ALLOWED)).map(([k, n]) => `${k}: ${n} lines`);
  assert.deepEqual(over, [], `split these along their own seams, or allow-list them with a reason:\n${over.join("\n")}`);
  const stale = Object.keys(ALLOWED).filter((k) => !long.has(k));
  assert.deepEqual(stale, [], "allow-listed but no longer over the limit (remove the entry)");
});
