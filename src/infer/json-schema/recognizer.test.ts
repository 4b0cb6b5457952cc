// The schema compiler and the byte-level recogniser: strings each schema must
// accept and reject, completion lengths, and the 400-worthy errors naming an
// unsupported keyword.
import assert from "node:assert/strict";
import { test } from "node:test";

import { UsageError } from "../../errors.ts";
import { compileSchema, jsonObjectGrammar } from "./grammar.ts";
import { recognize } from "./recognizer.ts";

function check(schema: unknown, accept: string[], reject: string[], prefixes: string[] = []): void {
  const g = compileSchema(schema);
  for (const t of accept) assert.equal(recognize(g, t).complete, true, `${JSON.stringify(schema)} should accept ${t}`);
  for (const t of reject) assert.equal(recognize(g, t).complete, false, `${JSON.stringify(schema)} should reject ${t}`);
  for (const t of prefixes) {
    const r = recognize(g, t);
    assert.equal(r.alive && !r.complete, true, `${t} is a live, incomplete prefix`);
  }
}

test("recogniser: objects keep schema order, required properties, no whitespace, no extras", () => {
  const schema = {
    type: "object",
    properties: { a: { type: "integer" }, b: { type: "string", maxLength: 3 }, c: { enum: ["x", "y"] } },
    required: ["a", "c"],
    additionalProperties: false,
  };
  check(
    schema,
    ['{"a":1,"c":"x"}', '{"a":12,"b":"abc","c":"y"}', '{"a":-7,"b":"","c":"x"}', '{"a":0,"b":"é日","c":"x"}'],
    [
      '{"a":1,"b":"abcd","c":"x"}',
      '{"c":"x"}',
      '{"a":1.5,"c":"x"}',
      '{"a":1, "c":"x"}',
      '{"a":1,"c":"z"}',
      '{"c":"x","a":1}',
      '{"a":1,"c":"x","d":1}',
      '{"a":01,"c":"x"}',
      '{"a":1,"c":"x"}}',
    ],
    ['{"a":1', '{"a":1,"b":"ab', "{", ""],
  );
  const g = compileSchema(schema);
  assert.equal(recognize(g, '{"a":1').min, ',"c":"x"}'.length);
  assert.equal(recognize(g, "").min, '{"a":0,"c":"x"}'.length);
});

test("recogniser: strings (lengths in code points, escapes, UTF-8 validity), numbers, literals", () => {
  check(
    { type: "string", minLength: 2, maxLength: 3 },
    ['"ab"', '"日本語"', '"a\\n"', '"\\"\\\\"'],
    ['"a"', '"abcd"', '"\\u0041b"', '"a\nb"', '"a'],
    ['"a', '"日本'],
  );
  check({ type: "number" }, ["0", "-1", "3.25", "1e5", "-2.5E-3", "12"], ["01", "1.", "-", ".5", "1e", "+1", "1e123"], ["-", "1.", "1e"]);
  check({ type: "integer" }, ["0", "-12", "123456789012345"], ["1.0", "1e3", "1234567890123456"]);
  check({ enum: [1, 12, "a", null] }, ["1", "12", '"a"', "null"], ["2", "123", '"b"', "nul"]);
  check({ const: { x: [1, 2] } }, ['{"x":[1,2]}'], ['{"x":[1]}']);
  check({ type: ["string", "null"] }, ['"s"', "null"], ["1"]);
  check({ type: "boolean" }, ["true", "false"], ["True", "1"]);
  // Bytes that are not well-formed UTF-8 are refused inside strings.
  const g = compileSchema({ type: "string" });
  assert.equal(recognize(g, '"\u00e9"').complete, true);
});

test("recogniser: arrays, anyOf, $defs with recursion, maps, json_object mode", () => {
  check({ type: "array", items: { type: "integer" }, minItems: 1, maxItems: 2 }, ["[1]", "[1,2]"], ["[]", "[1,2,3]", "[1,]", "[,1]"], ["[", "[1,"]);
  check(
    {
      anyOf: [
        { type: "object", properties: { a: { type: "number" } }, required: ["a"], additionalProperties: false },
        { type: "array", items: { type: "null" } },
      ],
    },
    ['{"a":1}', "[null,null]", "[]"],
    ['{"a":null}', "[1]"],
  );
  const tree = {
    type: "object",
    properties: { root: { $ref: "#/$defs/node" } },
    required: ["root"],
    additionalProperties: false,
    $defs: {
      node: {
        type: "object",
        properties: { v: { type: "integer" }, kids: { type: "array", items: { $ref: "#/$defs/node" } } },
        required: ["v", "kids"],
        additionalProperties: false,
      },
    },
  };
  check(tree, ['{"root":{"v":1,"kids":[]}}', '{"root":{"v":1,"kids":[{"v":2,"kids":[]}]}}'], ['{"root":{"v":1}}']);
  check({ type: "object", additionalProperties: { type: "integer" } }, ["{}", '{"a":1,"b":2}'], ['{"a":"x"}']);
  const j = jsonObjectGrammar();
  for (const t of ["{}", '{"a":[1,{"b":null}],"c":"d"}']) assert.equal(recognize(j, t).complete, true);
  for (const t of ["[]", '"s"', "{a:1}", '{"a":1,}']) assert.equal(recognize(j, t).complete, false);
});

test("schema compiler: unsupported or impossible schemas are UsageErrors naming the problem", () => {
  const bad: [unknown, RegExp][] = [
    [{ type: "string", pattern: "^a+$" }, /"pattern" is not supported/],
    [{ type: "string", format: "date-time" }, /"format" is not supported/],
    [{ type: "integer", minimum: 3 }, /"minimum" is not supported/],
    [{ oneOf: [{ type: "string" }] }, /"oneOf" is not supported/],
    [{ type: "object", properties: { a: { type: "string" } }, required: ["b"] }, /required.*"b".*not in properties/],
    [{ $ref: "#/$defs/missing" }, /names no definition/],
    [{ $ref: "http://example.com/s.json" }, /only local references/],
    [{ type: "strng" }, /unknown type "strng"/],
    [{ type: "array", items: { type: "string" }, minItems: 3, maxItems: 2 }, /minItems 3 is more than maxItems 2/],
    [{ type: "object", properties: { a: { $ref: "#" } }, required: ["a"] }, /no finite JSON value/],
    ["not a schema", /must be a JSON object/],
  ];
  for (const [s, re] of bad)
    assert.throws(
      () => compileSchema(s),
      (e: unknown) => e instanceof UsageError && re.test(e.message),
      `${JSON.stringify(s)} → ${re}`,
    );
});
