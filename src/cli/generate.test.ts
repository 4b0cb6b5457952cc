// CLI tests of `slm generate`, `slm chat` and `slm bench generate` on tiny
// random models saved in a temp directory: output consistent with the
// library (ids, decoded text, stops), piped chat turns, usage errors (exit 2)
// and failures (exit 1).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { loadModel, saveModelDir } from "../formats/hf-dir.ts";
import { generate } from "../infer/generate.ts";
import { createModel, presetConfig } from "../models/index.ts";
import { trainBpe, type Tokenizer } from "../tokenizer/index.ts";
import { runCli } from "./testing.ts";
import { TextStopper } from "../tokenizer/text-stop.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-cli-gen-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const withTok = join(dir, "chatml");
const plainChat = join(dir, "plain");
const noTok = join(dir, "notok");
let tok: Tokenizer;

const SENTENCES = ["the cat sat on the mat.", "the dog sat on the log.", "a bird sang in the tree.", "hello there, how are you?", "i am fine, thank you."];

before(async () => {
  const sentences = function* () {
    for (let i = 0; i < 20; i++) yield* SENTENCES;
  };
  tok = await trainBpe(sentences(), { vocabSize: 300 });
  const plainTok = await trainBpe(sentences(), { vocabSize: 300, config: { chat_template: "" } });
  const config = presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 64 });
  const model = createModel(config, 5);
  // Scaled-up weights: a default-init random model only repeats its last token.
  for (const [name, p] of model.namedParameters()) if (!/norm/.test(name)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 20;
  saveModelDir(withTok, model, { tokenizer: tok });
  saveModelDir(plainChat, model, { tokenizer: plainTok });
  saveModelDir(noTok, createModel({ ...config, vocabSize: 64 }, 6));
});

const run = (argv: string[], input?: string[]) => runCli(argv, { input });

const eosOf = (path: string) => loadModel(path).config.eosTokenId!;

test("slm generate --json: ids equal the library's, and text is their decoding", async () => {
  const r = await run(["generate", "--model", withTok, "--prompt", "the cat", "--max-tokens", "20", "--temperature", "0", "--json"]);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  const { model } = loadModel(withTok);
  const [lib] = await generate(model, [tok.encode("the cat")], { maxTokens: 20, sampling: { temperature: 0 }, stopTokenIds: [eosOf(withTok)] });
  assert.deepEqual(j.ids, lib!.ids);
  assert.equal(j.text, tok.decode(j.ids));
  assert.ok(j.text.length > 0);
  assert.equal(j.finish_reason, lib!.finishReason);
  assert.deepEqual(j.usage, {
    prompt_tokens: tok.encode("the cat").length,
    completion_tokens: lib!.completionTokens,
    total_tokens: tok.encode("the cat").length + lib!.completionTokens,
  });
  // Streaming prints the same text, then a newline.
  const s = await run(["generate", "--model", withTok, "--prompt", "the cat", "--max-tokens", "20", "--temperature", "0"]);
  assert.equal(s.code, 0, s.err);
  assert.equal(s.stream, `${j.text}\n`);
  // A text stop: output ends right before the first occurrence.
  const stop = j.text.slice(4, 6);
  const cut = j.text.indexOf(stop);
  assert.ok(stop.length === 2 && cut >= 0, `generated text too short to pick a stop string: ${JSON.stringify(j.text)}`);
  const st = await run([
    "generate",
    "--model",
    withTok,
    "--prompt",
    "the cat",
    "--max-tokens",
    "20",
    "--temperature",
    "0",
    "--stop",
    "\u0000never",
    "--stop",
    stop,
    "--json",
  ]);
  const sj = JSON.parse(st.out);
  assert.equal(sj.text, j.text.slice(0, cut));
  assert.equal(sj.finish_reason, "stop");
  assert.deepEqual(sj.ids, j.ids.slice(0, sj.ids.length));
  // Sampling with a seed is reproducible; the seed is reported.
  const a = JSON.parse((await run(["generate", "--model", withTok, "--prompt", "a bird", "--max-tokens", "10", "--seed", "9", "--top-k", "20", "--json"])).out);
  const b = JSON.parse((await run(["generate", "--model", withTok, "--prompt", "a bird", "--max-tokens", "10", "--seed", "9", "--top-k", "20", "--json"])).out);
  assert.deepEqual(a, b);
  assert.equal(a.seed, 9);
});

test("slm generate --json-schema / --json-object: the text is JSON of the schema; bad schemas exit 2 naming the problem", async () => {
  const schemaFile = join(dir, "pet.schema.json");
  const schema = {
    type: "object",
    properties: { name: { type: "string", maxLength: 8 }, legs: { type: "integer" } },
    required: ["name", "legs"],
    additionalProperties: false,
  };
  writeFileSync(schemaFile, JSON.stringify(schema));
  const r = await run(["generate", "--model", withTok, "--prompt", "the cat", "--max-tokens", "40", "--seed", "3", "--json-schema", schemaFile, "--json"]);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.finish_reason, "stop");
  const v = JSON.parse(j.text);
  assert.deepEqual(Object.keys(v), ["name", "legs"]);
  assert.ok(typeof v.name === "string" && v.name.length <= 8 && Number.isInteger(v.legs));
  const o = await run(["generate", "--model", withTok, "--prompt", "the cat", "--max-tokens", "30", "--json-object"]);
  assert.equal(o.code, 0, o.err);
  const obj = JSON.parse(o.stream);
  assert.ok(obj !== null && typeof obj === "object" && !Array.isArray(obj));
  const badFile = join(dir, "bad.schema.json");
  writeFileSync(badFile, JSON.stringify({ type: "string", pattern: "^a" }));
  const bad = await run(["generate", "--model", withTok, "--prompt", "x", "--json-schema", badFile]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /"pattern" is not supported/);
  writeFileSync(badFile, "{not json");
  const notJson = await run(["generate", "--model", withTok, "--prompt", "x", "--json-schema", badFile]);
  assert.equal(notJson.code, 2);
  assert.match(notJson.err, /is not valid JSON/);
  const noTokRun = await run(["generate", "--model", noTok, "--prompt-ids", "1", "--json-object"]);
  assert.equal(noTokRun.code, 2);
  assert.match(noTokRun.err, /no tokenizer/);
});

test("slm generate --prompt-ids on a model without a tokenizer prints ids", async () => {
  const r = await run(["generate", "--model", noTok, "--prompt-ids", "1,2, 3", "--max-tokens", "8", "--temperature", "0", "--json"]);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.text, null);
  const [lib] = await generate(loadModel(noTok).model, [[1, 2, 3]], { maxTokens: 8, sampling: { temperature: 0 } });
  assert.deepEqual(j.ids, lib!.ids);
  const p = await run(["generate", "--model", noTok, "--prompt-ids", "1 2 3", "--max-tokens", "8", "--temperature", "0"]);
  assert.equal(p.stream, `${j.ids.join(" ")}\n`);
  const t = await run(["generate", "--model", noTok, "--prompt", "hello"]);
  assert.equal(t.code, 2);
  assert.match(t.err, /has no tokenizer: pass the prompt as --prompt-ids/);
});

test("slm generate: bad flags exit 2, a missing model or an over-long prompt exit 1, each with a one-line message", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["--prompt", "x"], /--model is required/],
    [["--model", withTok], /pass one of --prompt TEXT or --prompt-ids IDS/],
    [["--model", withTok, "--prompt", "x", "--prompt-ids", "1"], /pass one of/],
    [["--model", withTok, "--prompt", "x", "--temperature=-1"], /--temperature must be a finite number >= 0/],
    [["--model", withTok, "--prompt", "x", "--top-p", "2"], /--top-p must be in \(0, 1\]/],
    [["--model", withTok, "--prompt", "x", "--top-k", "1.5"], /--top-k must be an integer/],
    [["--model", withTok, "--prompt", "x", "--max-tokens", "many"], /--max-tokens must be an integer >= 0/],
    [["--model", withTok, "--prompt", "x", "--temperature", "hot"], /--temperature must be a number/],
    [["--model", withTok, "--prompt-ids", "1,a"], /"a" is not a token id/],
    [["--model", withTok, "--prompt-ids", "1,100000"], /prompt 0 token 1 is 100000, outside the vocabulary/],
    [["--model", withTok, "--prompt", "x", "--nope"], /Unknown option '--nope'/],
    [["--model", withTok, "--prompt", "x", "--dtype", "q3_k"], /--dtype: "q3_k" is not a storage type/],
    [["--model", withTok, "--prompt", "x", "--kv-dtype", "q4"], /--kv-dtype: "q4" is not a KV-cache type/],
  ];
  for (const [args, re] of cases) {
    const r = await run(["generate", ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
    assert.match(r.err, re);
  }
  const missing = await run(["generate", "--model", join(dir, "nope"), "--prompt", "x"]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /^slm generate: model not found: .*nope\n/);
  const long = await run(["generate", "--model", withTok, "--prompt-ids", Array(64).fill(5).join(",")]);
  assert.equal(long.code, 1);
  assert.match(long.err, /prompt 0 has 64 tokens; the model's context is 64/);
});

/** The reply the library gives for a conversation (greedy), as chat prints it. */
async function expectedReply(path: string, promptIds: number[], stops: string[]): Promise<string> {
  const m = loadModel(path);
  const sp = m.tokenizer!.specialTokens;
  const stopIds = [m.config.eosTokenId!, sp["<|im_end|>"]!, sp["<|endoftext|>"]!];
  const [r] = await generate(m.model, [promptIds], { maxTokens: 16, sampling: { temperature: 0 }, stopTokenIds: stopIds });
  const stopper = new TextStopper(stops);
  stopper.push(m.tokenizer!.decode(r!.ids, { skipSpecialTokens: true }));
  stopper.flush();
  return stopper.text.replace(/^\s+/, "");
}

test("slm chat with piped input: chat template, one reply line per turn, /reset, /exit", async () => {
  const r = await run(
    ["chat", "--model", withTok, "--temperature", "0", "--max-tokens", "16", "--system", "be brief"],
    ["hello there\n", "\n", "/reset\n", "how are you?\n", "/exit\n", "never read\n"],
  );
  assert.equal(r.code, 0, r.err);
  const lines = r.stream.split("\n");
  assert.equal(lines.length, 3, JSON.stringify(r.stream)); // two replies, each ending in a newline
  assert.match(r.err, /\(conversation cleared\)/);
  const first = tok.applyChatTemplate(
    [
      { role: "system", content: "be brief" },
      { role: "user", content: "hello there" },
    ],
    { addGenerationPrompt: true },
  ).ids;
  assert.equal(lines[0], await expectedReply(withTok, first, []));
  // After /reset the second turn has no history.
  const second = tok.applyChatTemplate(
    [
      { role: "system", content: "be brief" },
      { role: "user", content: "how are you?" },
    ],
    { addGenerationPrompt: true },
  ).ids;
  assert.equal(lines[1], await expectedReply(withTok, second, []));
});

test("slm chat without a chat template uses plain turns; over-long messages are refused, history is trimmed", async () => {
  const long = "the cat sat on the mat and the dog sat on the log ".repeat(8);
  const r = await run(
    ["chat", "--model", plainChat, "--temperature", "0", "--max-tokens", "16"],
    ["hello there\n", `${long}\n`, "i am fine\n", "thank you\n", "how are you?\n"],
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /message too long: \d+ tokens/);
  const lines = r.stream.split("\n");
  assert.equal(lines.length, 5, JSON.stringify(r.stream));
  const m = loadModel(plainChat);
  const firstIds = m.tokenizer!.encode("User: hello there\nAssistant:");
  assert.equal(lines[0], await expectedReply(plainChat, firstIds, ["\nUser:"]));
  // Four turns of 64-token context: older turns were dropped to make room, and every reply came.
  const all = `User: hello there\nAssistant: ${lines[0]}\nUser: i am fine\nAssistant: ${lines[1]}\nUser: thank you\nAssistant: ${lines[2]}\nUser: how are you?\nAssistant:`;
  assert.ok(m.tokenizer!.encode(all).length + 16 > 64, "the test must overflow the context");
  const noTokChat = await run(["chat", "--model", noTok], []);
  assert.equal(noTokChat.code, 2);
  assert.match(noTokChat.err, /has no tokenizer/);
});

test("slm bench generate reports prefill and decode rates", async () => {
  const r = await run(["bench", "generate", "--model", withTok, "--prompt-tokens", "4", "--tokens", "6", "--batch", "2", "--trials", "1", "--json"]);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.model, withTok);
  assert.equal(j.batch, 2);
  assert.ok(j.prefill_tokens_per_s > 0 && j.decode_tokens_per_s > 0);
  assert.ok(j.params > 0 && j.threads >= 1);
  const t = await run(["bench", "generate", "--model", withTok, "--prompt-tokens", "4", "--tokens", "6", "--trials", "1"]);
  assert.match(t.out, /decode\s+[\d.]+ tokens\/s/);
  assert.equal((await run(["bench", "generate", "--preset", "huge"])).code, 2);
  assert.equal((await run(["bench", "generate", "--model", withTok, "--preset", "mini"])).code, 2);
  const over = await run(["bench", "generate", "--model", withTok, "--prompt-tokens", "60", "--tokens", "10"]);
  assert.equal(over.code, 2);
  assert.match(over.err, /exceed the model's context \(64\)/);
});

test("slm generate --draft: the same text with a draft model or without prompt lookup; a draft with another vocabulary exits 1 naming it", async () => {
  const args = ["generate", "--model", withTok, "--prompt", "the cat", "--max-tokens", "24", "--temperature", "0", "--json"];
  const plain = await run([...args, "--no-prompt-lookup"]);
  assert.equal(plain.code, 0, plain.err);
  for (const extra of [[], ["--draft", withTok], ["--draft", withTok, "--no-prompt-lookup"]]) {
    const r = await run([...args, ...extra]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out).ids, JSON.parse(plain.out).ids, extra.join(" "));
  }
  const small = await run([...args, "--draft", noTok]);
  assert.equal(small.code, 1);
  assert.match(small.err, /the draft model .*notok has a vocabulary of 64 tokens, the target .* 300/);
  // Same size, other tokens: a tokenizer trained on other text.
  const otherTok = await trainBpe(
    (function* () {
      for (let i = 0; i < 20; i++) yield* ["zebras quietly graze.", "quantum jukebox vexes.", "fjords whisper."];
    })(),
    { vocabSize: 300 },
  );
  const other = join(dir, "other-tok");
  saveModelDir(other, loadModel(withTok).model, { tokenizer: otherTok });
  const differ = await run([...args, "--draft", other]);
  assert.equal(differ.code, 1);
  assert.match(differ.err, /the draft's tokenizer (differs from the target's: token \d+|has \d+ tokens)/);
});
