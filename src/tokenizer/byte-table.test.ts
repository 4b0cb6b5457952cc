import assert from "node:assert/strict";
import { test } from "node:test";

import { ByteTable } from "./byte-table.ts";
import { BYTE_TO_CHAR } from "./bytes.ts";

test("ByteTable keeps each id's bytes through growth, in any order, a later set replacing an earlier one", () => {
  const t = new ByteTable(5, 1); // a 64-byte start, so the 300 bytes below force growth
  t.setUtf8(3, "héllo");
  t.set(
    0,
    Uint8Array.from({ length: 300 }, (_, i) => i & 255),
  );
  assert.equal(t.setByteLevel(1, `${BYTE_TO_CHAR[0x20]!}a${BYTE_TO_CHAR[0xff]!}`), true);
  t.setUtf8(3, "x");
  assert.deepEqual([...t.get(3)!], [0x78]);
  assert.deepEqual(
    [...t.get(0)!],
    Array.from({ length: 300 }, (_, i) => i & 255),
  );
  assert.deepEqual([...t.get(1)!], [0x20, 0x61, 0xff]);
  assert.equal(t.length(1), 3);
  assert.deepEqual([...t.get(2)!], [], "an unset id has no bytes");
  assert.equal(t.length(2), 0);
  assert.equal(t.get(5), undefined);
  assert.equal(t.get(-1), undefined);
});

test("ByteTable.setByteLevel refuses a character outside the byte table and writes nothing", () => {
  const t = new ByteTable(2);
  t.setUtf8(0, "ab");
  assert.equal(t.setByteLevel(1, "a\u4e00"), false);
  assert.equal(t.length(1), 0);
  assert.deepEqual([...t.get(0)!], [0x61, 0x62]);
});
