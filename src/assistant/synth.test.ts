// Grounded-QA data: synthetic questions from sentences, targets that are the
// answering sentence of the shown sources with its citation (and built with the
// same prompt answer() uses), "not found" examples without the answering file,
// user pairs, and a teacher behind a local OpenAI-compatible HTTP server (no
// network: a node:http server on 127.0.0.1 in this process).
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { ConfigError, FormatError } from "../errors.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import { Rng } from "../util/rng.ts";
import { buildGroundedPrompt } from "./answer.ts";
import { HashEmbedder } from "./embed.ts";
import { SectionIndex, buildIndex } from "./index-db.ts";
import { NOT_FOUND_TEXT, groundedMessages } from "./prompt.ts";
import {
  answerSentences,
  buildGroundedExamples,
  groundedTarget,
  parseTeacherReply,
  readQaPairs,
  shortQuestion,
  synthQuestion,
  synthSeeds,
  teacherSeeds,
} from "./synth.ts";
import { STOP_WORDS, words } from "./terms.ts";
import { writeTinyDataset, tinyTokenizer } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-synth-"));
const emb = new HashEmbedder(128);
buildIndex({ dataset: writeTinyDataset(join(dir, "ds")), out: join(dir, "t.index"), embedder: emb });
const index = SectionIndex.open(join(dir, "t.index"));
let tok: Tokenizer;
before(async () => {
  tok = await tinyTokenizer(320);
});
after(() => {
  index.close();
  rmSync(dir, { recursive: true, force: true });
});

test("answerSentences skips the heading line and short lines", () => {
  assert.deepEqual(answerSentences("Sick leave\n\nTell your manager before 10am on the first day. Short one."), [
    "Tell your manager before 10am on the first day.",
  ]);
  assert.deepEqual(answerSentences("Only a heading"), []);
});

test("synthQuestion: a question that is not the sentence; cloze questions drop the number", () => {
  const s = "Full-time staff earn 25 days of annual leave per year.";
  let cloze = 0;
  for (let seed = 0; seed < 40; seed++) {
    const q = synthQuestion(s, "Leave › Annual leave", new Rng(seed));
    assert.match(q, /\?$/);
    assert.notEqual(q, s);
    if (/how many days/.test(q)) {
      cloze++;
      assert.doesNotMatch(q, /25/);
    }
  }
  assert.ok(cloze > 0, "some questions are cloze questions about the number");
});

test("synthQuestion: typed questions ask for the span's kind (time, address, amount) without the span itself", () => {
  const cases: [string, RegExp, RegExp][] = [
    ["Send the form to hr@northwind.example before you travel.", /^(What email address|Which address do I email|Where do I email) /, /@/],
    ["Your payslip is published in Loomdesk three days before pay day.", /^(Where|Where can I|Which tool|Where do I) /, /Loomdesk/],
    [
      "Submit the voucher within 5 business days of your return.",
      /^(How long|How soon|When|How many business days|How far ahead|Within how many business days) /,
      /\b5\b/,
    ],
  ];
  for (const [s, wh, span] of cases) {
    let typed = 0;
    for (let seed = 0; seed < 60; seed++) {
      const q = synthQuestion(s, "Pay", new Rng(seed));
      // Other kinds may start with the same wh-word but keep the sentence's words; typed ones drop the span.
      if (wh.test(q) && !span.test(q)) typed++;
    }
    assert.ok(typed >= 3, `typed questions for "${s}": ${typed}`);
  }
});

test("shortQuestion: a few of the sentence's words, as users ask; synthSeeds makes them for long sentences too", () => {
  const s =
    "To apply for leave, submit a leave request in Loomdesk at least 10 working days before the first day you want off, and wait for your manager to approve it.";
  const sentenceWords = new Set(words(s));
  for (let seed = 0; seed < 50; seed++) {
    const q = shortQuestion(s, "Leave › Requesting leave", new Rng(seed));
    assert.ok(q.endsWith("?") && q !== s, q);
    const shared = [...new Set(words(q.replace(/\([^)]*\)/, "")))].filter((w) => sentenceWords.has(w) && !STOP_WORDS.has(w) && w.length > 2);
    // One to four words, and one more when the wh-phrase itself names one ("Which day").
    assert.ok(shared.length >= 1 && shared.length <= 5, `"${q}" shares ${shared.length} content words with its sentence`);
  }
  const long = synthSeeds(index, 300, 1, { maxWords: 80, style: "short" });
  const mixed = synthSeeds(index, 300, 1);
  const avg = (xs: { question: string }[]) => xs.reduce((a, x) => a + words(x.question).length, 0) / xs.length;
  assert.ok(avg(long) < avg(mixed), `short questions average ${avg(long)} words, mixed ${avg(mixed)}`);
  assert.ok(long.every((x) => words(x.answer).length <= 80));
  // A 29-word and a 59-word sentence: both may be reader answers, only the first a written one.
  const text = `Heading\n${s} ${s.replace(/\.$/, "")} and ${s.toLowerCase()}`;
  assert.equal(answerSentences(text, 80).length, 2);
  assert.equal(answerSentences(text).length, 1);
});

test("groundedTarget: the sentence holding the answer, cited by its source number", () => {
  const sources = [
    { n: 1, sourcePath: "a.md", headingPath: "A", sectionId: "d0#0", text: "Travel\nBook trains early." },
    { n: 2, sourcePath: "b.md", headingPath: "B", sectionId: "d1#0", text: "Per diems\nThe daily meal allowance is 45 euros in Lisbon. Hotels are booked." },
  ];
  assert.equal(groundedTarget({ question: "q", answer: "45 euros", origin: "user" }, sources), "The daily meal allowance is 45 euros in Lisbon. [2]");
  assert.equal(groundedTarget({ question: "q", answer: "90 euros", origin: "user" }, sources), null);
});

test("buildGroundedExamples: the prompt is answer()'s prompt, targets cite a shown source or say not found", () => {
  const seeds = synthSeeds(index, 60, 1);
  assert.equal(seeds.length, 60);
  const { examples, stats } = buildGroundedExamples(seeds, { index, embedder: emb, tokenizer: tok, context: 2048, maxNew: 40, negativeShare: 0.2, seed: 1 });
  assert.equal(stats.examples, examples.length);
  assert.equal(stats.examples + stats.missed, 60);
  assert.ok(stats.negatives > 0 && stats.negatives < 30, `negatives ${stats.negatives}`);
  assert.ok((stats.byOrigin.synthetic ?? 0) > 20);
  for (const [user, assistant] of examples) {
    assert.equal(user!.role, "user");
    assert.equal(assistant!.role, "assistant");
    const question = user!.content.slice(user!.content.lastIndexOf("Question: ") + 10);
    if (assistant!.content === `${NOT_FOUND_TEXT}.`) continue;
    const m = assistant!.content.match(/^(.*) \[(\d)\]$/s);
    assert.ok(m, assistant!.content);
    // The answer sentence is in the source it cites.
    const block = user!.content.split(/\n\n(?=\[\d\] )/).find((b) => b.startsWith(`[${m![2]}] `));
    assert.ok(block?.includes(m![1]!), `cited source ${m![2]} shows "${m![1]}"`);
    // The same question gets the same prompt from buildGroundedPrompt as at answer time.
    assert.ok(question.length > 0);
  }
  // Exactly answer()'s prompt: rebuild one example from retrieval and compare.
  const seed = seeds.find((s, i) => examples[i] !== undefined && s.question)!;
  const { sources } = buildGroundedPrompt(seed.question, [index.section(1), index.section(2)], { tokenizer: tok, context: 2048, maxNew: 40 });
  assert.equal(groundedMessages(seed.question, sources)[0]!.content.startsWith("Answer the question"), true);
});

test("buildGroundedExamples: user pairs whose answer the context shows; others are dropped", () => {
  const p = join(dir, "pairs.jsonl");
  writeFileSync(
    p,
    [
      JSON.stringify({ question: "How long must passwords be?", answer: "14 characters" }),
      JSON.stringify({ question: "Which extension reaches the IT helpdesk?", answer: "4200" }),
      JSON.stringify({ question: "What colour is the office?", answer: "bright purple" }),
    ].join("\n"),
  );
  const seeds = readQaPairs(p);
  const { examples, stats } = buildGroundedExamples(seeds, { index, embedder: emb, tokenizer: tok, context: 2048, maxNew: 40, negativeShare: 0 });
  assert.equal(stats.byOrigin.user, 2);
  assert.equal(stats.missed, 1);
  assert.match(examples[0]![1]!.content, /at least 14 characters long\. \[\d\]$/);
  assert.match(examples[1]![1]!.content, /extension 4200\. \[\d\]$/);
  writeFileSync(p, '{"question": "q"}\n');
  assert.throws(() => readQaPairs(p), FormatError);
  assert.throws(() => readQaPairs(join(dir, "missing.jsonl")), ConfigError);
});

test("parseTeacherReply keeps well-formed pairs and skips the rest", () => {
  const r = parseTeacherReply('Sure!\n{"question": "A?", "answer": "x"}\n{"question": 3, "answer": "y"}\n{broken\n{"question": "B?", "answer": "z"}');
  assert.deepEqual(r, [
    { question: "A?", answer: "x" },
    { question: "B?", answer: "z" },
  ]);
});

test("teacherSeeds: asks a local OpenAI-compatible server, keeps pairs whose answer is in the section", async () => {
  const bodies: { model: string; messages: { role: string; content: string }[] }[] = [];
  const server = createServer((req, res) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => {
      if (req.url !== "/v1/chat/completions" || req.method !== "POST") {
        res.writeHead(404).end("no");
        return;
      }
      const body = JSON.parse(data);
      bodies.push(body);
      // Answer with one pair copied from the section and one invented.
      const text: string = body.messages[0].content;
      const section = text.slice(text.indexOf("Section: "));
      const words = section
        .split("\n")
        .slice(1)
        .join(" ")
        .split(/\s+/)
        .filter((w: string) => w.length > 0);
      const answer = words.slice(2, 5).join(" ");
      const content = `{"question": "What about ${answer}?", "answer": ${JSON.stringify(answer)}}\n{"question": "Invented?", "answer": "zebra crossing policy"}`;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ choices: [{ message: { role: "assistant", content } }] }));
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as AddressInfo).port;
  try {
    const r = await teacherSeeds(index, { url: `http://127.0.0.1:${port}/v1/`, model: "tiny-teacher", sections: 4, perSection: 2, seed: 2 });
    assert.equal(bodies.length, r.asked);
    assert.equal(bodies[0]!.model, "tiny-teacher");
    assert.match(bodies[0]!.messages[0]!.content, /write 2 questions/);
    assert.equal(r.rejected, bodies.length, "every invented answer is rejected");
    assert.equal(r.seeds.length, bodies.length);
    for (const s of r.seeds) {
      assert.equal(s.origin, "teacher");
      assert.ok(index.sectionById(s.sectionId!)!.text.replace(/\s+/g, " ").includes(s.answer), s.answer);
    }
    await assert.rejects(teacherSeeds(index, { url: `http://127.0.0.1:${port}/nope`, model: "m", sections: 1 }), /HTTP 404/);
  } finally {
    server.close();
  }
});
