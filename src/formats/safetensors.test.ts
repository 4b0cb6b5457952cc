import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { FormatError } from "../errors.ts";
import { SafetensorsCheckpoint, SafetensorsFile, writeSafetensors } from "./safetensors.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-st-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function sample(): Float32Array {
  return Float32Array.from({ length: 24 }, (_, i) => (i - 12) * 0.37);
}

test("round trip of F32, F16, BF16 and U8 tensors with metadata", () => {
  const p = join(dir, "a.safetensors");
  const x = sample();
  const q = new Uint8Array([1, 2, 3, 250]);
  writeSafetensors(
    p,
    [
      { name: "w32", shape: [4, 6], data: x },
      { name: "w16", shape: [2, 12], data: x, dtype: "F16" },
      { name: "wbf", shape: [24], data: x, dtype: "BF16" },
      { name: "q", shape: [4], data: q },
    ],
    { format: "pt" },
  );
  const f = SafetensorsFile.open(p);
  try {
    assert.deepEqual(f.names.sort(), ["q", "w16", "wbf", "w32"].sort());
    assert.deepEqual(f.header.metadata, { format: "pt" });
    assert.deepEqual(f.readFloat32("w32").data, x);
    assert.deepEqual(f.readFloat32("w32").shape, [4, 6]);
    const h = f.readFloat32("w16").data;
    const b = f.readFloat32("wbf").data;
    for (let i = 0; i < x.length; i++) {
      assert.ok(Math.abs(h[i]! - x[i]!) <= Math.abs(x[i]!) * 1e-3, `f16 ${i}`);
      assert.ok(Math.abs(b[i]! - x[i]!) <= Math.abs(x[i]!) * 8e-3, `bf16 ${i}`);
    }
    assert.deepEqual(f.readBytes("q"), q);
    assert.throws(() => f.readFloat32("q"), /U8, not a float type/);
    // data section is 8-byte aligned
    const raw = readFileSync(p);
    assert.equal((8 + Number(raw.readBigUInt64LE(0))) % 8, 0);
  } finally {
    f.close();
  }
});

test("sharded checkpoints via model.safetensors.index.json", () => {
  const d = mkdtempSync(join(dir, "shard-"));
  writeSafetensors(join(d, "model-00001-of-00002.safetensors"), [{ name: "a", shape: [2], data: new Float32Array([1, 2]) }]);
  writeSafetensors(join(d, "model-00002-of-00002.safetensors"), [{ name: "b", shape: [1], data: new Float32Array([3]) }]);
  writeFileSync(
    join(d, "model.safetensors.index.json"),
    JSON.stringify({ metadata: {}, weight_map: { a: "model-00001-of-00002.safetensors", b: "model-00002-of-00002.safetensors" } }),
  );
  const ck = SafetensorsCheckpoint.open(d);
  try {
    assert.deepEqual(ck.names, ["a", "b"]);
    assert.deepEqual(Array.from(ck.readFloat32("b").data), [3]);
    assert.deepEqual(Array.from(ck.readFloat32("a").data), [1, 2]);
    assert.throws(() => ck.readFloat32("c"), /no tensor named "c"/);
  } finally {
    ck.close();
  }
  writeFileSync(join(d, "model.safetensors.index.json"), JSON.stringify({ weight_map: { a: "../evil.safetensors" } }));
  assert.throws(() => SafetensorsCheckpoint.open(d), /must be a file name in the same directory/);
});

function corrupt(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

function withHeader(header: unknown, dataBytes: number): Uint8Array {
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, Buffer.alloc(dataBytes)]);
}

test("corrupt and hostile files are FormatErrors naming the problem, before any big allocation", () => {
  const good = join(dir, "good.safetensors");
  writeSafetensors(good, [{ name: "w", shape: [4, 6], data: sample() }]);
  const raw = readFileSync(good);
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty", new Uint8Array(0), /too short/],
    ["truncated", raw.subarray(0, raw.length - 10), /truncated|ends at byte/],
    [
      "huge-header-len",
      (() => {
        const b = Buffer.from(raw);
        b.writeBigUInt64LE(1n << 60n, 0);
        return b;
      })(),
      /header length .* exceeds the file size/,
    ],
    ["not-json", withHeader("x", 0).map((v, i) => (i === 9 ? 0x7b : v)), /not valid UTF-8 JSON|not a JSON object/],
    ["bad-dtype", withHeader({ w: { dtype: "F8", shape: [1], data_offsets: [0, 1] } }, 1), /dtype "F8" is not supported/],
    ["bad-shape", withHeader({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, 4), /shape must be/],
    ["size-mismatch", withHeader({ w: { dtype: "F32", shape: [2, 2], data_offsets: [0, 12] } }, 12), /12 bytes of data for shape \[2,2\] F32 \(needs 16\)/],
    ["past-end", withHeader({ w: { dtype: "F32", shape: [1e9], data_offsets: [0, 4e9] } }, 16), /only 16 bytes of data/],
    ["overlap", withHeader({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, 12), /overlap/],
    ["huge-shape", withHeader({ w: { dtype: "F32", shape: [1e10, 1e10], data_offsets: [0, 4] } }, 4), /too large|bytes of data/],
  ];
  for (const [name, bytes, re] of cases) {
    const p = corrupt(name, bytes);
    assert.throws(
      () => SafetensorsFile.open(p),
      (e: unknown) => e instanceof FormatError && re.test(e.message),
      name,
    );
  }
  assert.throws(() => SafetensorsFile.open(join(dir, "missing.safetensors")), /cannot open \(ENOENT\)/);
});

test("a failed write leaves no file and no temp file behind", () => {
  const d = mkdtempSync(join(dir, "atomic-"));
  const p = join(d, "m.safetensors");
  assert.throws(() => writeSafetensors(p, [{ name: "w", shape: [3], data: new Float32Array(2) }]), FormatError);
  assert.throws(
    () =>
      writeSafetensors(p, [
        { name: "w", shape: [1], data: new Float32Array(1) },
        { name: "w", shape: [1], data: new Float32Array(1) },
      ]),
    /duplicate/,
  );
  assert.equal(existsSync(p), false);
  assert.deepEqual(readdirSync(d), []);
});

test("readFloat32Into fills a caller's array (F32 directly, F16 converted) and checks its length", () => {
  const p = join(dir, "into.safetensors");
  const x = sample();
  writeSafetensors(p, [
    { name: "a", shape: [24], data: x },
    { name: "h", shape: [24], data: x, dtype: "F16" },
    { name: "q", shape: [2], data: new Uint8Array(2) },
  ]);
  const ck = SafetensorsCheckpoint.open(p);
  try {
    const buf = new Float32Array(30);
    const view = buf.subarray(3, 27);
    ck.readFloat32Into("a", view);
    assert.deepEqual(view, x);
    assert.equal(buf[2], 0);
    assert.equal(buf[27], 0);
    const h = new Float32Array(24);
    ck.readFloat32Into("h", h);
    assert.deepEqual(h, ck.readFloat32("h").data);
    assert.throws(
      () => ck.readFloat32Into("a", new Float32Array(23)),
      (e: unknown) => e instanceof FormatError && /24 values, the destination 23/.test(e.message),
    );
    assert.throws(() => ck.readFloat32Into("q", new Float32Array(2)), /not a float type/);
  } finally {
    ck.close();
  }
});
