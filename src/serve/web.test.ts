// Browser test of the web UI: starts the real server (startServer) on a tiny
// random model saved in a temp directory, drives Debian's chromium with
// playwright-core, sends a message, watches the reply stream in, stops it with
// the Stop button, and checks the model card, the API-key error path and the
// citations renderer; with a document index, the model picker (assistant
// first), an answer with a citation link, and the section page it opens. Skips with a message when /usr/bin/chromium is absent
// (`.ci/run` installs it). No network: the page loads only from the server.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";

import type { Browser, Page } from "playwright-core";

import { HashEmbedder } from "../assistant/embed.ts";
import { buildIndex } from "../assistant/index-db.ts";
import { TINY_HANDBOOK, writeTinyDataset } from "../assistant/testing.ts";
import { saveModelDir } from "../formats/hf-dir.ts";
import { countParameters, createModel, presetConfig } from "../models/index.ts";
import { ingest } from "../data/ingest.ts";
import { trainTextTokenizer } from "../data/tokenizer.ts";
import { trainBpe } from "../tokenizer/index.ts";
import { startServer } from "./server.ts";

const CHROMIUM = "/usr/bin/chromium";
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install -y chromium; .ci/run does it)`;
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-dev-shm-usage",
];

const dir = mkdtempSync(join(tmpdir(), "slm-web-"));
const modelDir = join(dir, "tiny");
let params = 0;
let browser: Browser | undefined;
const servers: { close(): Promise<void> }[] = [];

before(async () => {
  if (skip) return;
  const lines = [
    "the leave policy says to ask early.",
    "expenses need receipts and a reason.",
    "travel is booked through the desk.",
    "keep your laptop locked when away.",
  ];
  const tok = await trainBpe(
    (function* () {
      for (let i = 0; i < 30; i++) yield* lines;
    })(),
    { vocabSize: 320 },
  );
  // Long context so a reply can run for seconds: time enough to press Stop while it streams.
  const config = presetConfig("nano", tok.vocabSize, { dModel: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 16, ffnDim: 128, maxSeqLen: 2048 });
  const model = createModel(config, 3);
  // Scaled weights give varied text (a default-init random model repeats one token) …
  for (const [name, p] of model.namedParameters()) if (!/norm/.test(name)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 20;
  // … and zero embedding rows for the special tokens give them logit 0, far below the best of
  // the other tokens, so greedy decoding never ends the reply on its own: only Stop or max_tokens do.
  const emb = model.headWeight.data;
  for (const id of Object.values(tok.specialTokens)) emb.fill(0, id * config.dModel, (id + 1) * config.dModel);
  saveModelDir(modelDir, model, { tokenizer: tok });
  params = countParameters(config).total;
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});

after(async () => {
  await browser?.close();
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

let plainUrl: string | undefined;
/** The shared server without a key, started on first use. */
async function plainServer(): Promise<string> {
  plainUrl ??= await serve();
  return plainUrl;
}

async function serve(apiKey?: string): Promise<string> {
  const s = await startServer({ modelDir, host: "127.0.0.1", port: 0, apiKey, maxConcurrency: 2 });
  servers.push(s);
  return s.url.replace(/\/$/, "");
}

/** Opens the UI at a phone's width; close() also checks that nothing was fetched from elsewhere (no CDN). */
async function openPage(url: string): Promise<{ page: Page; close(): Promise<void> }> {
  const page = await browser!.newPage({ viewport: { width: 390, height: 800 } });
  const external: string[] = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(url)) external.push(r.url());
  });
  await page.goto(`${url}/`);
  return {
    page,
    async close() {
      await page.close();
      assert.deepEqual(external, [], "the page fetched nothing outside the server");
    },
  };
}

test("web UI: the model card, a streamed reply, and Stop", { skip }, async () => {
  const url = await plainServer();
  const { page, close } = await openPage(url);
  try {
    await page.waitForSelector("#card[data-loaded=true]");
    const card = await page.textContent("#card");
    assert.match(card!, /llama/);
    assert.match(card!, /2048 tokens/, "context length");
    assert.match(card!, /F32/, "quantization");
    assert.match(card!, new RegExp(`${(params / 1e3).toFixed(1)}k`), "parameter count");

    // Greedy, and as long as the context allows: the reply runs until Stop.
    await page.fill("#temperature", "0");
    await page.fill("#max_tokens", "1900");
    await page.fill("#prompt", "What does the leave policy say?");
    await page.click("#send");

    const reply = page.locator("#transcript .msg.assistant").last();
    // Text appears while the message is still streaming (not all at the end).
    // (Page-side code is passed as strings: the test's TypeScript has no DOM types.)
    await page.waitForFunction(`(() => {
      const m = document.querySelector("#transcript .msg.assistant:last-child");
      return m !== null && m.classList.contains("streaming") && (m.querySelector(".text")?.textContent ?? "").length > 0;
    })()`);
    const early = (await reply.locator(".text").textContent())!.length;
    await page.waitForFunction(`(document.querySelector("#transcript .msg.assistant:last-child .text")?.textContent ?? "").length > ${early}`);
    assert.equal(await page.isDisabled("#send"), true, "Send is disabled while a reply streams");

    await page.click("#stop");
    await page.waitForSelector("#transcript .msg.assistant:last-child[data-state=stopped]");
    assert.match((await reply.locator(".meta").textContent())!, /stopped/);
    assert.equal(await page.isDisabled("#stop"), true);
    assert.equal(await page.isEnabled("#send"), true);
    assert.equal(await page.isVisible("#error"), false, "stopping is not an error");
    const stoppedText = (await reply.locator(".text").textContent())!;
    assert.ok(stoppedText.length > early, "the reply grew while streaming");
    // Nothing more arrives after Stop, and the user's message is shown as sent.
    await page.waitForTimeout(300);
    assert.equal(await reply.locator(".text").textContent(), stoppedText);
    assert.equal(await page.textContent("#transcript .msg.user .text"), "What does the leave policy say?");

    // A second turn completes at a small max_tokens limit, carrying the stopped reply as history.
    await page.fill("#max_tokens", "8");
    await page.fill("#prompt", "And expenses?");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#transcript .msg.assistant:nth-child(4)[data-state=done]");
    assert.match((await page.textContent("#transcript .msg.assistant:nth-child(4) .meta"))!, /token limit · 8 tokens/);
  } finally {
    await close();
  }
});

test("web UI: a server with an API key shows a clear 401 error until the key is entered", { skip }, async () => {
  const url = await serve("sekret-key");
  const { page, close } = await openPage(url);
  try {
    await page.waitForSelector("#error:not([hidden])");
    assert.match((await page.textContent("#error"))!, /401.*API key/s);
    await page.fill("#api-key", "sekret-key");
    await page.dispatchEvent("#api-key", "change");
    await page.waitForSelector("#card[data-loaded=true]");
    assert.equal(await page.isVisible("#error"), false);
    assert.equal(await page.evaluate(`localStorage.getItem("slm.apiKey")`), "sekret-key");
    // With the key, a message gets a reply.
    await page.fill("#max_tokens", "4");
    await page.fill("#prompt", "hello");
    await page.click("#send");
    await page.waitForSelector("#transcript .msg.assistant:last-child[data-state=done]");
  } finally {
    await close();
  }
});

test("web UI: citations render as a list of safe links whose titles are text", { skip }, async () => {
  const url = await plainServer();
  const { page, close } = await openPage(url);
  try {
    await page.waitForSelector("#card[data-loaded=true]");
    const html = await page.evaluate<string>(`(() => {
      const li = document.createElement("li");
      window.slmChat.renderCitations(li, [
        { title: "Leave policy", url: "/docs/leave.md" },
        { title: "<b>bold</b>", url: "javascript:alert(1)" },
        "Expenses § Receipts",
      ]);
      return li.innerHTML;
    })()`);
    assert.match(html, /<a href="http:\/\/127\.0\.0\.1:\d+\/docs\/leave\.md"[^>]*>Leave policy<\/a>/);
    assert.doesNotMatch(html, /javascript:/, "a javascript: URL never becomes a link");
    assert.match(html, /&lt;b&gt;bold&lt;\/b&gt;/, "titles are text, not HTML");
    assert.match(html, /Expenses § Receipts/);
  } finally {
    await close();
  }
});

test("web UI: the assistant is picked first, its answer cites a section, and the link opens it", { skip }, async () => {
  // A section whose text looks like markup: the section page must show it as text.
  const sections = [
    ...TINY_HANDBOOK,
    { source: "hb/style.md", heading: ["Style guide"], text: "Style guide\n\nIn the style guide the tag <b>quillmark</b> stays literal in every memo." },
  ];
  const index = join(dir, "web.index");
  buildIndex({ dataset: writeTinyDataset(join(dir, "web-ds"), sections), out: index, embedder: new HashEmbedder(64) });
  // The extractive answerer: a random model would rarely write a citation, and this test is about the UI.
  const s = await startServer({ modelDir, host: "127.0.0.1", port: 0, maxConcurrency: 2, index, answerer: "extractive" });
  servers.push(s);
  const url = s.url.replace(/\/$/, "");
  const { page, close } = await openPage(url);
  try {
    await page.waitForSelector("#card[data-loaded=true]");
    assert.equal(await page.isVisible("#model"), true, "a picker when two models are served");
    const options = await page.evaluate<string[]>(`[...document.querySelectorAll("#model option")].map((o) => o.value)`);
    assert.deepEqual(options, ["tiny-assistant", "tiny"]);
    assert.equal(await page.inputValue("#model"), "tiny-assistant");
    assert.match((await page.textContent("#card"))!, /9 sections of 5 documents/);
    assert.match((await page.textContent("#empty"))!, /cites its sources/);

    await page.fill("#prompt", "What stays literal in the style guide memo?");
    await page.click("#send");
    await page.waitForSelector("#transcript .msg.assistant:last-child[data-state=done] .citations a");
    assert.match((await page.textContent("#transcript .msg.assistant:last-child .text"))!, /quillmark.*\[1\]$/);
    const link = page.locator("#transcript .msg.assistant:last-child .citations a").first();
    assert.equal(await link.textContent(), "hb/style.md — Style guide");
    const [popup] = await Promise.all([page.waitForEvent("popup"), link.click()]);
    await popup.waitForSelector("#section[data-loaded=true]");
    assert.equal(await popup.textContent("#heading"), "Style guide");
    assert.match((await popup.textContent("#source"))!, /hb\/style\.md/);
    assert.match((await popup.textContent("#text"))!, /the tag <b>quillmark<\/b> stays literal/, "markup shown as text");
    assert.equal(await popup.locator("#text b").count(), 0, "no element made from the section's text");
    await popup.close();

    // The plain model is still there: picking it sends to it (a reply without citations).
    await page.selectOption("#model", "tiny");
    await page.fill("#max_tokens", "4");
    await page.fill("#prompt", "hello");
    await page.click("#send");
    await page.waitForSelector("#transcript .msg.assistant:nth-child(4)[data-state=done]");
    assert.equal(await page.locator("#transcript .msg.assistant:nth-child(4) .citations").count(), 0);
    assert.equal(await page.evaluate(`localStorage.getItem("slm.model")`), "tiny");
  } finally {
    await close();
  }
});

test("web UI, the README tour's `slm serve --model M --index I` with a from-scratch model: a handbook question gets a cited extract, not generated text", {
  skip,
}, async () => {
  // Step 1 and 4 of the tour on the bundled handbook: ingest, then index (hashed vectors).
  const handbook = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "examples", "handbook");
  const data = join(dir, "tour-data");
  await ingest({ inputs: [handbook], out: data, trainTokenizer: trainTextTokenizer, vocabSize: 512 });
  const index = join(dir, "tour.index");
  buildIndex({ dataset: data, out: index, embedder: new HashEmbedder(512) });
  // Step 6 with no --answerer: the tiny model was pretrained (no fine-tune record, the default template).
  const s = await startServer({ modelDir, host: "127.0.0.1", port: 0, maxConcurrency: 2, index });
  servers.push(s);
  const url = s.url.replace(/\/$/, "");
  const { page, close } = await openPage(url);
  try {
    await page.waitForSelector("#card[data-loaded=true]");
    assert.equal(await page.inputValue("#model"), "tiny-assistant");
    assert.match((await page.textContent("#card"))!, /extracts \(best sentence, no model\) — extracts, not generated text: the model is a pretrained model/);
    await page.fill("#prompt", "How do I apply for leave?");
    await page.click("#send");
    const last = "#transcript .msg.assistant:last-child";
    await page.waitForSelector(`${last}[data-state=done] .citations a`);
    const text = (await page.textContent(`${last} .text`))!;
    assert.match(text, /^To apply for leave, submit a leave request in Loomdesk at least 10 working days before/, "the handbook's own sentence");
    assert.match(text, /\[1\]$/);
    assert.equal(await page.getAttribute(`${last} .method`, "data-method"), "extractive");
    assert.match((await page.textContent(`${last} .method`))!, /Answered by an extract from the documents \(no model wrote this\)/);
    assert.match(
      (await page.locator(`${last} .citations a`).first().textContent())!,
      /how-to-request-leave\.md — How to Request Leave › How do I apply for leave\?/,
    );
  } finally {
    await close();
  }
});
