// ServedAssistant.reply, the assistant's completion path without HTTP: over a
// fake prompt backend (a context length and a character-count token counter),
// the model answerer's grounded prompt and the citations of its text, the
// extractive answer with no prompt, the not-found answer, the budget and
// temperature defaults, and the refusal of a chat without a user question.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { UsageError } from "../errors.ts";
import { HashEmbedder } from "./embed.ts";
import { buildIndex } from "./index-db.ts";
import { DEFAULT_ASSISTANT_MAX_TOKENS, questionOf, ServedAssistant, type PromptBackend, type PromptInput } from "./served.ts";
import { writeTinyDataset } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-served-"));
const indexPath = join(dir, "hb.index");
buildIndex({ dataset: writeTinyDataset(join(dir, "ds")), out: indexPath, embedder: new HashEmbedder(64) });
const opened: ServedAssistant[] = [];
after(() => {
  for (const a of opened) a.close();
  rmSync(dir, { recursive: true, force: true });
});

const ANNUAL = "How many days of annual leave do full-time staff earn?";
const ABSENT = "What is the sabbatical policy for astronauts on Mars?";

function promptBackend(contextLength: number, chatTemplate = false): PromptBackend {
  const text = (i: PromptInput) => (i.kind === "text" ? i.prompt : i.messages.map((m) => m.content).join("\n"));
  return { card: { contextLength, chatTemplate }, countTokens: async (i) => Math.ceil(text(i).length / 4) };
}

function open(answerer: "model" | "extractive"): ServedAssistant {
  const a = ServedAssistant.open({ indexPath, modelId: "m", answerer });
  opened.push(a);
  return a;
}

test("questionOf is the last user message", () => {
  assert.equal(
    questionOf([
      { role: "user", content: "a" },
      { role: "assistant", content: "b" },
      { role: "user", content: "c" },
      { role: "system", content: "d" },
    ]),
    "c",
  );
  assert.equal(questionOf([{ role: "system", content: "x" }]), "");
});

test("the model answerer: a grounded prompt within the budget, citations from the generated text", async () => {
  const a = open("model");
  const r = await a.reply({ messages: [{ role: "user", content: ANNUAL }] }, promptBackend(4096));
  assert.equal(r.maxTokens, DEFAULT_ASSISTANT_MAX_TOKENS);
  assert.equal(r.temperature, 0);
  assert.equal(r.answer.kind, "generate");
  if (r.answer.kind !== "generate") return;
  assert.equal(r.answer.input.kind, "text", "no chat template: the plain-text prompt");
  const prompt = r.answer.input.kind === "text" ? r.answer.input.prompt : "";
  assert.ok(prompt.includes(`Question: ${ANNUAL}`));
  assert.deepEqual(r.answer.stop, ["\nQuestion:", "\nSources:"]);
  const n = Number(/^\[(\d+)\] hb\/leave\.md — Leave › Annual leave$/m.exec(prompt)?.[1]);
  assert.ok(n >= 1, "the annual-leave section is among the sources");
  const f = r.fields(`25 days [${n}]`);
  assert.equal(f.not_found, false);
  assert.deepEqual(
    f.citations.map((c) => c.heading_path),
    ["Leave › Annual leave"],
  );
  assert.equal(f.answered_by.method, "model");
  assert.equal(r.fields("not found in the documents").not_found, true);

  // A chat template: the user turn; the budget is capped at a quarter of the context; a set temperature is kept.
  const c = await a.reply({ messages: [{ role: "user", content: ANNUAL }], maxTokens: 500, temperature: 0.7 }, promptBackend(1000, true));
  assert.equal(c.maxTokens, 250);
  assert.equal(c.temperature, 0.7);
  assert.ok(c.answer.kind === "generate" && c.answer.input.kind === "chat" && c.answer.stop.length === 0);
});

test("the extractive answerer and the not-found answer need no model", async () => {
  const a = open("extractive");
  const r = await a.reply({ messages: [{ role: "user", content: ANNUAL }] }, promptBackend(4096));
  assert.ok(r.answer.kind === "text" && /25 days of annual leave.*\[1\]$/.test(r.answer.text));
  const f = r.fields("ignored");
  assert.equal(f.answered_by.method, "extractive");
  assert.equal(f.citations[0]!.heading_path, "Leave › Annual leave");

  const nf = await open("model").reply({ messages: [{ role: "user", content: ABSENT }] }, promptBackend(4096));
  assert.deepEqual(nf.answer, { kind: "text", text: "Not found in the documents." });
  assert.deepEqual(nf.fields("x"), {
    citations: [],
    not_found: true,
    answered_by: { method: "not_found", reason: "no section matched the question well enough" },
  });
});

test("a chat without a user question is a UsageError", async () => {
  await assert.rejects(open("model").reply({ messages: [{ role: "system", content: "be brief" }] }, promptBackend(4096)), UsageError);
});
