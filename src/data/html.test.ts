// HTML extraction: Readability's article with real heading levels, the body
// fallback without navigation/boilerplate, and DOCX-style fragments.
import assert from "node:assert/strict";
import { test } from "node:test";

import { htmlFragmentToBlocks, htmlToBlocks } from "./html.ts";
import { blocksToSections } from "./text.ts";

const prose = (w: string) =>
  `${w} staff members read this paragraph, which has commas, clauses, and enough length to look like an article to the scorer, again and again.`;

test("an article keeps its real heading levels (Readability demotes h1 to h2)", () => {
  const html = `<html><head><title>Site | Page</title></head><body><nav><ul><li><a href="/">Home</a></li></ul></nav>
<article><h1>Handbook</h1><p>${prose("One")}</p><h2>Leave</h2><p>${prose("Two")}</p><h3>Sick leave</h3><p>${prose("Three")}</p><h2>Pay</h2><p>${prose("Four")}</p></article>
<footer>Footer links</footer></body></html>`;
  const d = htmlToBlocks(html);
  assert.equal(d.mode, "article");
  const s = blocksToSections(d.blocks, { maxChars: 4000 });
  assert.deepEqual(
    s.map((x) => x.heading),
    [["Handbook"], ["Handbook", "Leave"], ["Handbook", "Leave", "Sick leave"], ["Handbook", "Pay"]],
  );
  assert.ok(!s.some((x) => /Home|Footer links/.test(x.text)));
});

test("without an article, the body minus navigation, header, footer, aside, scripts and hidden parts", () => {
  const html = `<body><header>Top banner</header><div role="navigation">Menu entries</div><main><h2>Short page</h2><p>Just a line.</p>
<div hidden>Hidden text</div><table><tr><td>a</td><td>b</td></tr></table><pre>code  line</pre></main><aside>Side</aside><script>x()</script><footer>Bottom</footer></body>`;
  const d = htmlToBlocks(html);
  assert.equal(d.mode, "body");
  assert.deepEqual(d.blocks, [
    { kind: "heading", level: 2, text: "Short page" },
    { kind: "text", text: "Just a line." },
    { kind: "text", text: "a | b", tight: true },
    { kind: "text", text: "code  line", tight: true },
  ]);
});

test("fragments (mammoth output): nested lists and line breaks", () => {
  const b = htmlFragmentToBlocks("<h1>T</h1><p>first<br>second</p><ul><li>item <strong>one</strong><ul><li>nested</li></ul></li></ul>");
  assert.deepEqual(b, [
    { kind: "heading", level: 1, text: "T" },
    { kind: "text", text: "first" },
    { kind: "text", text: "second" },
    { kind: "text", text: "- item one", tight: true },
    { kind: "text", text: "- nested", tight: true },
  ]);
});
