import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { replaceDir, writeDirAtomic, writeFileAtomic, writeFileAtomicSync } from "./atomic.ts";

const root = mkdtempSync(join(tmpdir(), "slm-atomic-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("writeFileAtomicSync writes strings and bytes, replacing the old file, and leaves no temp file", () => {
  const d = mkdtempSync(join(root, "w-"));
  const p = join(d, "a.json");
  writeFileAtomicSync(p, "first\n");
  assert.equal(readFileSync(p, "utf8"), "first\n");
  writeFileAtomicSync(p, new Uint8Array([104, 105]));
  assert.equal(readFileSync(p, "utf8"), "hi");
  assert.deepEqual(readdirSync(d), ["a.json"]);
});

test("writeFileAtomicSync with mkdir creates the parent directory", () => {
  const p = join(root, "deep", "er", "x.txt");
  writeFileAtomicSync(p, "x", { mkdir: true });
  assert.equal(readFileSync(p, "utf8"), "x");
});

test("a write that fails half-way leaves the old file and no temp file", () => {
  const d = mkdtempSync(join(root, "f-"));
  const p = join(d, "model.bin");
  writeFileSync(p, "good old contents");
  assert.throws(
    () =>
      writeFileAtomic(p, (fd) => {
        writeFileSync(fd, "half a new fi");
        throw new Error("disk on fire");
      }),
    /disk on fire/,
  );
  assert.equal(readFileSync(p, "utf8"), "good old contents");
  assert.deepEqual(readdirSync(d), ["model.bin"]);
});

test("a failed rename (target is a non-empty directory) leaves the target and no temp file", () => {
  const d = mkdtempSync(join(root, "r-"));
  const p = join(d, "taken");
  mkdirSync(p);
  writeFileSync(join(p, "keep"), "k");
  assert.throws(() => writeFileAtomicSync(p, "new"));
  assert.equal(readFileSync(join(p, "keep"), "utf8"), "k");
  assert.deepEqual(readdirSync(d), ["taken"]);
});

test("writeDirAtomic replaces a directory whole, and a failing fill leaves the old one", () => {
  const d = mkdtempSync(join(root, "d-"));
  const out = join(d, "model");
  writeDirAtomic(out, (tmp) => writeFileSync(join(tmp, "v1"), "1"));
  assert.deepEqual(readdirSync(out), ["v1"]);
  writeDirAtomic(out, (tmp) => writeFileSync(join(tmp, "v2"), "2"));
  assert.deepEqual(readdirSync(out), ["v2"]);
  assert.throws(
    () =>
      writeDirAtomic(out, (tmp) => {
        writeFileSync(join(tmp, "v3"), "3");
        throw new Error("bad input");
      }),
    /bad input/,
  );
  assert.deepEqual(readdirSync(out), ["v2"]);
  assert.deepEqual(readdirSync(d), ["model"]);
});

test("replaceDir swaps a built directory in, with or without an old one", () => {
  const d = mkdtempSync(join(root, "s-"));
  const out = join(d, "ds");
  const a = join(d, ".ds.a");
  mkdirSync(a);
  writeFileSync(join(a, "x"), "a");
  replaceDir(a, out);
  assert.equal(readFileSync(join(out, "x"), "utf8"), "a");
  const b = join(d, ".ds.b");
  mkdirSync(b);
  writeFileSync(join(b, "y"), "b");
  replaceDir(b, out);
  assert.deepEqual(readdirSync(out), ["y"]);
  assert.deepEqual(readdirSync(d), ["ds"]);
});
