// File discovery: globs, recursion, hidden entries, symlink loops, repeated files, the train/val split.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { splitDocuments } from "./split.ts";
import { findFiles, globToRegExp } from "./walk.ts";

test("glob patterns", () => {
  const re = globToRegExp("docs/**/*.{md,txt}");
  assert.ok(re.test("docs/a.md") && re.test("docs/x/y/b.txt"));
  assert.ok(!re.test("docs/a.pdf") && !re.test("other/a.md"));
  assert.ok(globToRegExp("a?c.[mt]d").test("abc.md") && !globToRegExp("*.md").test("x/y.md"));
});

test("walks directories and globs, follows symlinks without looping, reads each file once", async () => {
  const root = mkdtempSync(join(tmpdir(), "slm-walk-"));
  try {
    mkdirSync(join(root, "d", "sub"), { recursive: true });
    mkdirSync(join(root, "d", ".git"), { recursive: true });
    writeFileSync(join(root, "d", "b.md"), "b");
    writeFileSync(join(root, "d", "a.txt"), "a");
    writeFileSync(join(root, "d", "sub", "c.html"), "c");
    writeFileSync(join(root, "d", "sub", "skip.bin"), "x");
    writeFileSync(join(root, "d", ".git", "hidden.md"), "h");
    symlinkSync(join(root, "d"), join(root, "d", "sub", "loop"));
    symlinkSync(join(root, "d", "b.md"), join(root, "d", "link.md"));
    const r = await findFiles(["d", "d/**/*.md", "d/sub/skip.bin"], { cwd: root });
    assert.deepEqual(
      r.files.map((f) => [f.source, f.format]),
      [
        ["d/a.txt", "text"],
        ["d/b.md", "markdown"],
        ["d/sub/c.html", "html"],
      ],
    );
    const reasons = r.skipped.map((s) => `${s.source}: ${s.reason}`);
    assert.ok(reasons.includes("d/sub/loop: directory already visited (symlink loop or duplicate input)"), reasons.join("\n"));
    assert.ok(reasons.includes("d/link.md: same file as d/b.md"), reasons.join("\n"));
    assert.ok(reasons.includes("d/sub/skip.bin: unsupported format (by extension)"), reasons.join("\n"));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("files outside the working directory are labelled from the folder holding their input, not with ../", async () => {
  const root = mkdtempSync(join(tmpdir(), "slm-walk-"));
  try {
    mkdirSync(join(root, "work"), { recursive: true });
    mkdirSync(join(root, "elsewhere", "playbook", "leave"), { recursive: true });
    writeFileSync(join(root, "elsewhere", "playbook", "leave", "holiday.md"), "h");
    writeFileSync(join(root, "elsewhere", "notes.txt"), "n");
    writeFileSync(join(root, "work", "local.md"), "l");
    const abs = join(root, "elsewhere", "playbook");
    const r = await findFiles([abs, "../elsewhere/notes.txt", `${join(root, "elsewhere")}/**/*.md`, "local.md"], { cwd: join(root, "work") });
    assert.deepEqual(
      r.files.map((f) => f.source),
      ["local.md", "notes.txt", "playbook/leave/holiday.md"],
    );
    assert.ok(
      r.skipped.some((s) => s.source === "elsewhere/playbook/leave/holiday.md" && /same file as playbook\/leave\/holiday\.md/.test(s.reason)),
      JSON.stringify(r.skipped),
    );
    // Inside the working directory nothing changes.
    const inside = await findFiles(["elsewhere/playbook"], { cwd: root });
    assert.deepEqual(
      inside.files.map((f) => f.source),
      ["elsewhere/playbook/leave/holiday.md"],
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("the split is by document, exact in size, deterministic by seed", () => {
  const ids = Array.from({ length: 101 }, (_, i) => `doc${i}`);
  const a = splitDocuments(ids, 0.1, 5);
  assert.equal(a.val.size, 10);
  assert.equal(a.train.size, 91);
  for (const id of a.val) assert.ok(!a.train.has(id));
  assert.deepEqual([...splitDocuments([...ids].reverse(), 0.1, 5).val].sort(), [...a.val].sort(), "independent of order");
  assert.notDeepEqual([...splitDocuments(ids, 0.1, 6).val].sort(), [...a.val].sort(), "another seed, another split");
  assert.equal(splitDocuments(["x", "y"], 0.01, 0).val.size, 1, "at least one validation document");
  assert.equal(splitDocuments(["x"], 0.5, 0).val.size, 0, "never every document");
  assert.equal(splitDocuments(ids, 0, 0).val.size, 0);
});
