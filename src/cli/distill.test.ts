// `slm distill` end to end on tiny models: logit distillation into a student
// made from the teacher's layers, the tokenizer-mismatch error, and sequence
// distillation from a local teacher and from an OpenAI-compatible endpoint
// (a small HTTP server started here; no network).
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { CORPUS_WORDS as words, runCli, writeWordCorpus } from "./testing.ts";

const root = mkdtempSync(join(tmpdir(), "slm-cli-distill-"));
after(() => rmSync(root, { recursive: true, force: true }));

const run = (...argv: string[]) => runCli(argv);

const docs = join(root, "docs");
const teacherRun = join(root, "teacher");
const tiny = ["--batch", "2", "--context", "32", "--eval-every", "2", "--eval-batches", "2", "--log-every", "1", "--checkpoint-every", "0"];

before(async () => {
  writeWordCorpus(docs, 10, 6);
  const t = await run(
    "train",
    "--data",
    docs,
    "--out",
    teacherRun,
    "--preset",
    "nano",
    "--max-steps",
    "3",
    "--batch",
    "2",
    "--context",
    "32",
    "--vocab-size",
    "300",
    "--eval-every",
    "0",
  );
  assert.equal(t.code, 0, t.err);
});

test("logit distillation: a student from every 2nd teacher layer, cache, metrics and summary", async () => {
  const out = join(root, "kd");
  const res = await run(
    "distill",
    "--teacher",
    join(teacherRun, "model"),
    "--student",
    "teacher",
    "--layer-stride",
    "2",
    "--data",
    join(teacherRun, "dataset"),
    "--out",
    out,
    "--max-steps",
    "4",
    "--top-k",
    "8",
    "--divergence",
    "reverse",
    "--alpha",
    "0.8",
    "--temperature",
    "1.5",
    ...tiny,
    "--json",
  );
  assert.equal(res.code, 0, res.err);
  const lines = res.out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.ok(lines.some((l) => l.type === "cache" && l.done === 4 && l.total === 4));
  const s = lines.at(-1);
  assert.equal(s.type, "distill_summary");
  assert.equal(s.student.steps, 4);
  assert.ok(s.student.params < s.teacher.params, "half the layers");
  assert.equal(s.distill.divergence, "reverse");
  assert.equal(s.distill.topK, 8);
  for (const f of ["config.json", "model.safetensors", "tokenizer.json"]) assert.ok(existsSync(join(out, "model", f)), f);
  const cfg = JSON.parse(readFileSync(join(out, "model", "config.json"), "utf8"));
  assert.equal(cfg.num_hidden_layers, 2);
  const metrics = readFileSync(join(out, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(metrics.filter((m) => m.type === "step" && Number.isFinite(m.divergence)).length, 4);
  assert.ok(metrics.some((m) => m.type === "eval" && m.step === 4));
  // The student model evaluates with `slm eval` like any other.
  const ev = await run("eval", "--model", join(out, "model"), "--data", join(teacherRun, "dataset"), "--context", "32", "--batches", "2", "--json");
  assert.equal(ev.code, 0, ev.err);
});

test("logit distillation refuses a dataset made with another tokenizer, naming both", async () => {
  const other = join(root, "other-data");
  const ing = await run("ingest", docs, "--out", other, "--vocab-size", "280", "--no-cache");
  assert.equal(ing.code, 0, ing.err);
  const res = await run(
    "distill",
    "--teacher",
    join(teacherRun, "model"),
    "--student",
    "nano",
    "--data",
    other,
    "--out",
    join(root, "bad"),
    "--max-steps",
    "2",
    ...tiny,
  );
  assert.equal(res.code, 1);
  assert.match(res.err, /tokenizers differ/);
  assert.match(res.err, /300/);
  assert.match(res.err, /280/);
  assert.ok(res.err.includes(join(teacherRun, "model")) && res.err.includes(other), res.err);
  const usage = await run("distill", "--teacher", join(teacherRun, "model"), "--student", "nano", "--data", other, "--out", join(root, "bad2"));
  assert.equal(usage.code, 2);
  assert.match(usage.err, /--max-steps/);
});

test("sequence distillation from a local teacher model", async () => {
  const prompts = join(root, "prompts.jsonl");
  writeFileSync(prompts, `${Array.from({ length: 6 }, (_, i) => JSON.stringify({ prompt: `${words[i]} ${words[i + 3]} policy` })).join("\n")}\n`);
  const out = join(root, "seq-local");
  // Sequence distillation from a local teacher into \`dir\`: 6 prompts, 2 steps.
  const distillTo = (dir: string) =>
    run(
      "distill",
      "--mode",
      "sequence",
      "--teacher",
      join(teacherRun, "model"),
      "--prompts",
      prompts,
      "--student",
      "nano",
      "--gen-max-tokens",
      "40",
      "--out",
      dir,
      "--max-steps",
      "2",
      "--batch",
      "1",
      "--context",
      "16",
      "--eval-every",
      "0",
      "--checkpoint-every",
      "0",
      "--json",
    );
  const res = await distillTo(out);
  assert.equal(res.code, 0, res.err);
  const texts = readFileSync(join(out, "teacher-texts.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(texts.length, 6);
  assert.ok(texts.every((t) => t.text.startsWith(t.prompt)));
  const s = JSON.parse(res.out.trim().split("\n").at(-1)!);
  assert.equal(s.mode, "sequence");
  assert.ok(s.teacher.params > 0 && s.teacher.tokensPerSec > 0);
  assert.ok(existsSync(join(out, "model", "model.safetensors")));
  // The same run elsewhere holds out the same completions: the split does not depend on the run's directory.
  const elsewhere = join(root, "another", "place", "seq-local");
  const again = await distillTo(elsewhere);
  assert.equal(again.code, 0, again.err);
  assert.deepEqual(readFileSync(join(elsewhere, "dataset", "val-00000.bin")), readFileSync(join(out, "dataset", "val-00000.bin")));
});

test("sequence distillation from an OpenAI-compatible endpoint, with the student's own tokenizer", async () => {
  const seen: { url: string; body: { model: string; messages: { role: string; content: string }[]; max_tokens: number }; auth?: string }[] = [];
  const answer = (p: string) => `About ${p}: submit the request to your manager before the travel days, with a receipt for each expense. ${words.join(" ")}`;
  const server = createServer(async (req: IncomingMessage, res) => {
    let raw = "";
    for await (const c of req) raw += c;
    const body = JSON.parse(raw);
    seen.push({ url: req.url!, body, auth: req.headers.authorization });
    if (body.messages[0].content.startsWith("short")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] }));
      return;
    }
    if (body.messages[0].content === "fail me") {
      res.writeHead(500).end("boom");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: answer(body.messages[0].content) }, finish_reason: "stop" }] }));
  });
  server.keepAliveTimeout = 120_000; // idle sockets stay open between the runs below, however slow the machine
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    const prompts = join(root, "prompts2.jsonl");
    writeFileSync(
      prompts,
      `${Array.from({ length: 8 }, (_, i) => JSON.stringify({ messages: [{ role: "user", content: `question ${i} about ${words[i]}` }] })).join("\n")}\n`,
    );
    process.env.SLM_TEST_TEACHER_KEY = "sekrit";
    const out = join(root, "seq-url");
    const res = await run(
      "distill",
      "--mode",
      "sequence",
      "--teacher-url",
      url,
      "--teacher-model",
      "big-one",
      "--api-key-env",
      "SLM_TEST_TEACHER_KEY",
      "--prompts",
      prompts,
      "--student",
      "nano",
      "--vocab-size",
      "300",
      "--out",
      out,
      "--max-steps",
      "2",
      "--batch",
      "1",
      "--context",
      "16",
      "--eval-every",
      "0",
      "--checkpoint-every",
      "0",
    );
    assert.equal(res.code, 0, res.err);
    assert.equal(seen.length, 8);
    assert.equal(seen[0]!.url, "/v1/chat/completions");
    assert.equal(seen[0]!.body.model, "big-one");
    assert.equal(seen[0]!.body.messages[0]!.content, "question 0 about leave");
    assert.equal(seen[0]!.auth, "Bearer sekrit");
    const texts = readFileSync(join(out, "teacher-texts.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(texts[3].text, `question 3 about annual\n\n${answer("question 3 about annual")}\n`);
    const tok = JSON.parse(readFileSync(join(out, "model", "tokenizer.json"), "utf8"));
    assert.ok(Object.keys(tok.model.vocab).length <= 300);
    // Completions too short to hold out one window: training goes on without validation, with a warning.
    writeFileSync(prompts, `${Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `short ${i}` })).join("\n")}\n`);
    const short = await run(
      "distill",
      "--mode",
      "sequence",
      "--teacher-url",
      url,
      "--prompts",
      prompts,
      "--student",
      "nano",
      "--vocab-size",
      "300",
      "--out",
      join(root, "seq-short"),
      "--max-steps",
      "1",
      "--batch",
      "1",
      "--context",
      "12",
      "--checkpoint-every",
      "0",
    );
    assert.equal(short.code, 0, short.err);
    assert.match(short.err, /held-out completions have \d+ tokens, fewer than one window of 13: training without validation/);
    // A failing endpoint is a one-line error naming it.
    writeFileSync(prompts, `${JSON.stringify({ prompt: "fail me" })}\n`);
    const bad = await run(
      "distill",
      "--mode",
      "sequence",
      "--teacher-url",
      url,
      "--prompts",
      prompts,
      "--student",
      "nano",
      "--vocab-size",
      "300",
      "--out",
      join(root, "seq-bad"),
      "--max-steps",
      "1",
    );
    assert.equal(bad.code, 1);
    assert.match(bad.err, /HTTP 500 boom/);
    assert.ok(!existsSync(join(root, "seq-bad", "teacher-texts.jsonl")));
  } finally {
    delete process.env.SLM_TEST_TEACHER_KEY;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
