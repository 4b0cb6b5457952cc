import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { FormatError } from "../errors.ts";
import { GgufFile, gv, kvArray, kvNumber, kvString, writeGguf, type GgufValue } from "./gguf.ts";
import { quantize } from "./quant.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-gguf-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const ALL_KV: [string, GgufValue][] = [
  ["t.u8", gv.u8(255)],
  ["t.i8", gv.i8(-128)],
  ["t.u16", gv.u16(65535)],
  ["t.i16", gv.i16(-32768)],
  ["t.u32", gv.u32(4294967295)],
  ["t.i32", gv.i32(-2147483648)],
  ["t.f32", gv.f32(1.5)],
  ["t.bool", gv.bool(true)],
  ["t.string", gv.str("héllo ▁ 😀")],
  ["t.u64", gv.u64(2n ** 64n - 1n)],
  ["t.i64", gv.i64(-(2n ** 63n))],
  ["t.f64", gv.f64(Math.PI)],
  ["t.empty", gv.str("")],
  ["a.u8", { type: "array", itemType: "u8", value: Uint8Array.of(1, 2, 255) }],
  ["a.i8", { type: "array", itemType: "i8", value: Int8Array.of(-1, 2) }],
  ["a.u16", { type: "array", itemType: "u16", value: Uint16Array.of(7) }],
  ["a.i16", { type: "array", itemType: "i16", value: Int16Array.of(-7, 8) }],
  ["a.u32", { type: "array", itemType: "u32", value: Uint32Array.of(1, 4294967295) }],
  ["a.i32", gv.i32s([1, -2, 3])],
  ["a.f32", gv.f32s([0.25, -1e30])],
  ["a.f64", { type: "array", itemType: "f64", value: Float64Array.of(1e300) }],
  ["a.u64", { type: "array", itemType: "u64", value: BigUint64Array.of(2n ** 63n) }],
  ["a.i64", { type: "array", itemType: "i64", value: BigInt64Array.of(-5n) }],
  ["a.bool", { type: "array", itemType: "bool", value: [true, false, true] }],
  ["a.string", gv.strings(["a", "", "▁b", "<0x0A>"])],
  ["a.empty", gv.strings([])],
  ["a.nested", { type: "array", itemType: "array", value: [gv.i32s([1, 2]), gv.strings(["x"])] }],
];

test("round trip of every key/value type, nested arrays, and f32/f16/q8_0/q4_0 tensors", () => {
  const p = join(dir, "all.gguf");
  const x = Float32Array.from({ length: 64 * 3 }, (_, i) => Math.sin(i) * 0.1);
  writeGguf(p, ALL_KV, [
    { name: "w32", shape: [3, 64], type: "F32", data: x },
    { name: "w16", shape: [3, 64], type: "F16", data: x },
    { name: "q8", shape: [3, 64], type: "Q8_0", data: x },
    { name: "q4", shape: [192], type: "Q4_0", data: x },
    { name: "raw", shape: [2, 32], type: "Q8_0", data: quantize("Q8_0", x.subarray(0, 64)) },
    { name: "odd", shape: [5], type: "F32", data: Float32Array.of(1, 2, 3, 4, 5) },
  ]);
  const f = GgufFile.open(p);
  try {
    assert.equal(f.header.version, 3);
    assert.deepEqual(
      [...f.kv.keys()],
      ALL_KV.map(([k]) => k),
      "key order is kept",
    );
    for (const [k, v] of ALL_KV) assert.deepEqual(f.kv.get(k), v, k);
    assert.deepEqual(f.tensorNames, ["w32", "w16", "q8", "q4", "raw", "odd"]);
    assert.deepEqual(f.readFloat32("w32"), { shape: [3, 64], data: x });
    assert.equal(f.info("q8").type.name, "Q8_0");
    assert.equal(f.info("q8").end - f.info("q8").begin, 3 * 2 * 34);
    assert.deepEqual(f.readBytes("raw"), quantize("Q8_0", x.subarray(0, 64)));
    for (const n of ["w16", "q8", "q4"]) {
      const back = f.readFloat32(n).data;
      for (let i = 0; i < x.length; i++) assert.ok(Math.abs(back[i]! - x[i]!) < 0.02, `${n}[${i}]`);
    }
    for (const t of f.header.tensors.values()) assert.equal((t.begin - f.header.dataStart) % 32, 0, `${t.name} aligned`);
    assert.equal(f.header.dataStart % 32, 0);
    assert.equal(kvString(f.kv, "t.string"), "héllo ▁ 😀");
    assert.equal(kvNumber(f.kv, "t.u16"), 65535);
    assert.throws(() => kvNumber(f.kv, "t.u64"), /out of range/);
    assert.throws(() => kvString(f.kv, "t.u8"), /must be a string/);
    assert.throws(() => kvArray(f.kv, "a.i32", ["string"]), /array of string/);
    assert.throws(() => f.readFloat32("nope"), /no tensor named "nope"/);
  } finally {
    f.close();
  }
  // ne[] on disk is the reverse of the row-major shape: w32 is ne = [64, 3].
  const raw = readFileSync(p);
  const at = raw.indexOf(Buffer.from("w32"));
  assert.equal(raw.readUInt32LE(at + 3), 2);
  assert.equal(Number(raw.readBigUInt64LE(at + 7)), 64);
  assert.equal(Number(raw.readBigUInt64LE(at + 15)), 3);
});

test("custom alignment is honoured; writer refuses bad input and leaves no temp files", () => {
  const p = join(dir, "al.gguf");
  writeGguf(
    p,
    [["general.alignment", gv.u32(64)]],
    [
      { name: "a", shape: [3], type: "F32", data: Float32Array.of(1, 2, 3) },
      { name: "b", shape: [1], type: "F32", data: Float32Array.of(4) },
    ],
  );
  const f = GgufFile.open(p);
  assert.equal(f.header.alignment, 64);
  assert.equal(f.header.dataStart % 64, 0);
  assert.equal(f.info("b").offset, 64);
  assert.deepEqual(Array.from(f.readFloat32("b").data), [4]);
  f.close();
  const bad = (t: Parameters<typeof writeGguf>[2], kv: [string, GgufValue][] = [], re: RegExp) =>
    assert.throws(
      () => writeGguf(join(dir, "bad.gguf"), kv, t),
      (e: unknown) => e instanceof FormatError && re.test(e.message),
    );
  bad([{ name: "q", shape: [2, 33], type: "Q8_0", data: new Float32Array(66) }], [], /blocks of 32/);
  bad([{ name: "q", shape: [4], type: "F32", data: new Float32Array(3) }], [], /needs 4/);
  bad([{ name: "x".repeat(64), shape: [1], type: "F32", data: new Float32Array(1) }], [], /longer than 63/);
  bad(
    [
      { name: "a", shape: [1], type: "F32", data: new Float32Array(1) },
      { name: "a", shape: [1], type: "F32", data: new Float32Array(1) },
    ],
    [],
    /duplicate/,
  );
  bad([], [["k", gv.u8(256)]], /does not fit/);
  bad([], [["k", { type: "array", itemType: "i32", value: [1, 2] as unknown as Int32Array }]], /Int32Array/);
  bad([], [["general.alignment", gv.u32(24)]], /power of two/);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes(".tmp-")),
    [],
  );
});

// ---------------------------------------------------------------------------
// Hostile files, built byte by byte (independent of the writer).

interface RawTensor {
  name: string;
  ne: (number | bigint)[];
  type: number;
  offset: number | bigint;
}
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}
function u64(v: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}
function str(s: string, len?: number | bigint): Buffer {
  const b = Buffer.from(s);
  return Buffer.concat([u64(len ?? b.length), b]);
}
function rawGguf(o: {
  magic?: number;
  version?: number;
  nTensors?: number | bigint;
  nKv?: number | bigint;
  kv?: Buffer[];
  tensors?: RawTensor[];
  data?: number;
}): Buffer {
  const kv = o.kv ?? [Buffer.concat([str("general.architecture"), u32(8), str("llama")])];
  const tensors = o.tensors ?? [{ name: "w", ne: [4, 2], type: 0, offset: 0 }];
  const infos = tensors.map((t) => Buffer.concat([str(t.name), u32(t.ne.length), ...t.ne.map(u64), u32(t.type), u64(t.offset)]));
  const head = Buffer.concat([u32(o.magic ?? 0x46554747), u32(o.version ?? 3), u64(o.nTensors ?? tensors.length), u64(o.nKv ?? kv.length), ...kv, ...infos]);
  const pad = Buffer.alloc((32 - (head.length % 32)) % 32);
  return Buffer.concat([head, pad, Buffer.alloc(o.data ?? 32)]);
}

function expectFormatError(name: string, bytes: Buffer, re: RegExp): void {
  const p = join(dir, `${name}.gguf`);
  writeFileSync(p, bytes);
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(
    () => GgufFile.open(p).close(),
    (e: unknown) => {
      if (!(e instanceof FormatError)) throw new assert.AssertionError({ message: `${name}: expected a FormatError, got ${String(e)}` });
      if (!re.test(e.message)) throw new assert.AssertionError({ message: `${name}: message ${JSON.stringify(e.message)} does not match ${re}` });
      return true;
    },
  );
  // Nothing near the claimed sizes was allocated (a cursor buffer of at most the file size is fine).
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 << 20, `${name}: allocation grew`);
}

test("the raw builder makes a valid file (so the hostile cases below test what they claim)", () => {
  const p = join(dir, "ok.gguf");
  writeFileSync(p, rawGguf({}));
  const f = GgufFile.open(p);
  assert.deepEqual(f.readFloat32("w").shape, [2, 4]);
  f.close();
});

test("hostile headers are FormatErrors naming the field, before any large allocation", () => {
  const huge = 2n ** 62n;
  const cases: [string, Buffer, RegExp][] = [
    ["magic", rawGguf({ magic: 0x46554746 }), /bad magic/],
    ["version1", rawGguf({ version: 1 }), /version 1 is not supported/],
    ["bigendian", rawGguf({ version: 0x03000000 }), /version 50331648/],
    ["kvcount", rawGguf({ nKv: huge }), /key\/value count|beyond any file size/],
    ["kvcount2", rawGguf({ nKv: 1_000_000 }), /key\/value count 1000000 cannot fit/],
    ["tcount", rawGguf({ nTensors: 10_000_000 }), /tensor count 10000000 cannot fit/],
    ["keylen", rawGguf({ kv: [Buffer.concat([str("k", huge)])] }), /key 0 length|string length/],
    ["keylen2", rawGguf({ kv: [Buffer.concat([str("k", 1 << 30)])] }), /key 0: string length 1073741824 exceeds/],
    ["strlen", rawGguf({ kv: [Buffer.concat([str("k"), u32(8), u64(1 << 30)])] }), /"k": string length 1073741824 exceeds/],
    ["arrlen", rawGguf({ kv: [Buffer.concat([str("k"), u32(9), u32(6), u64(1 << 28)])] }), /"k": array of 268435456 f32 needs at least/],
    ["arrstr", rawGguf({ kv: [Buffer.concat([str("k"), u32(9), u32(8), u64(1 << 28)])] }), /array of 268435456 string/],
    ["vtype", rawGguf({ kv: [Buffer.concat([str("k"), u32(13), u32(0)])] }), /value type of "k": unknown value type 13/],
    ["atype", rawGguf({ kv: [Buffer.concat([str("k"), u32(9), u32(99), u64(0)])] }), /"k" item type: unknown value type 99/],
    ["bool", rawGguf({ kv: [Buffer.concat([str("k"), u32(7), Buffer.of(2)])] }), /bool byte is 2/],
    ["utf8", rawGguf({ kv: [Buffer.concat([u64(2), Buffer.of(0xc3, 0x28), u32(4), u32(1)])] }), /not valid UTF-8/],
    ["dupkey", rawGguf({ kv: [Buffer.concat([str("k"), u32(4), u32(1)]), Buffer.concat([str("k"), u32(4), u32(1)])] }), /duplicate key "k"/],
    ["align", rawGguf({ kv: [Buffer.concat([str("general.alignment"), u32(4), u32(24)])] }), /alignment must be a non-zero power of two/],
    ["aligntype", rawGguf({ kv: [Buffer.concat([str("general.alignment"), u32(10), u64(32)])] }), /alignment/],
    ["ndims", rawGguf({ tensors: [{ name: "w", ne: [1, 1, 1, 1, 1], type: 0, offset: 0 }] }), /tensor "w": n_dims 5/],
    ["ndims0", rawGguf({ tensors: [{ name: "w", ne: [], type: 0, offset: 0 }] }), /tensor "w": n_dims 0/],
    ["overflow", rawGguf({ tensors: [{ name: "w", ne: [2 ** 40, 2 ** 40], type: 0, offset: 0 }] }), /tensor "w": dims .* overflow/],
    ["dimhuge", rawGguf({ tensors: [{ name: "w", ne: [2n ** 63n], type: 0, offset: 0 }] }), /ne\[0\] is \d+, beyond/],
    ["ttype", rawGguf({ tensors: [{ name: "w", ne: [256], type: 11, offset: 0 }] }), /tensor "w" has ggml type Q3_K \(id 11\)/],
    ["ttype2", rawGguf({ tensors: [{ name: "w", ne: [4], type: 999, offset: 0 }] }), /tensor "w" has ggml type unknown type 999/],
    ["block", rawGguf({ tensors: [{ name: "w", ne: [33], type: 8, offset: 0 }] }), /ne\[0\] = 33 is not a multiple/],
    ["offset", rawGguf({ tensors: [{ name: "w", ne: [4], type: 0, offset: 1 << 20 }] }), /tensor "w": data at 1048576/],
    ["offsethuge", rawGguf({ tensors: [{ name: "w", ne: [4], type: 0, offset: 2n ** 63n }] }), /offset is \d+, beyond/],
    ["misaligned", rawGguf({ tensors: [{ name: "w", ne: [4], type: 0, offset: 4 }] }), /offset 4 is not a multiple of the alignment 32/],
    ["size", rawGguf({ tensors: [{ name: "w", ne: [1000], type: 0, offset: 0 }] }), /tensor "w": data at 0\.\.4000/],
    [
      "overlap",
      rawGguf({
        tensors: [
          { name: "a", ne: [16], type: 0, offset: 0 },
          { name: "b", ne: [8], type: 0, offset: 32 },
        ],
        data: 128,
      }),
      /"a" and "b" overlap/,
    ],
    [
      "dupname",
      rawGguf({
        tensors: [
          { name: "a", ne: [1], type: 0, offset: 0 },
          { name: "a", ne: [1], type: 0, offset: 32 },
        ],
        data: 64,
      }),
      /duplicate tensor name "a"/,
    ],
    ["longname", rawGguf({ tensors: [{ name: "n".repeat(64), ne: [1], type: 0, offset: 0 }] }), /longer than 63 bytes/],
    ["tiny", Buffer.from("GGUF"), /too short/],
  ];
  for (const [name, bytes, re] of cases) expectFormatError(name, bytes, re);
});

test("a valid file truncated at every byte is a FormatError, never a crash", () => {
  const p = join(dir, "full.gguf");
  writeGguf(p, ALL_KV.slice(0, 6).concat([["tok", gv.strings(["a", "bb", "ccc"])]]), [
    { name: "a", shape: [2, 32], type: "Q8_0", data: new Float32Array(64).fill(0.5) },
    { name: "b", shape: [3], type: "F32", data: Float32Array.of(1, 2, 3) },
  ]);
  const full = readFileSync(p);
  const f = GgufFile.open(p);
  const lastEnd = Math.max(...[...f.header.tensors.values()].map((t) => t.end));
  f.close();
  for (let n = 0; n < lastEnd; n++)
    expectFormatError("trunc", full.subarray(0, n), /truncated|too short|past the end|unexpected end|cannot fit|exceeds|needs at least|bytes of data/);
});
