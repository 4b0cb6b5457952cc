// Markdown and section building: headings to heading paths, inline markup to
// text, heading-only sections carried forward, long sections split.
import assert from "node:assert/strict";
import { test } from "node:test";

import { inlineText, markdownToBlocks } from "./markdown.ts";
import { blocksToSections, cpLength, normalizeText, splitLong } from "./text.ts";

test("inline markup reduces to its text", () => {
  assert.equal(inlineText("See [the guide](https://x.org/a_(b)) and ![logo](l.png)."), "See the guide and logo.");
  assert.equal(
    inlineText("[[COPY] Checklist](https://x) is **bold**, *it*, __u__, `code` and snake_case_name"),
    "[COPY] Checklist is bold, it, u, code and snake_case_name",
  );
  assert.equal(inlineText('Use {% page "/x" %}here &amp; <b>there</b> &#8212; {{ site.name }}'), "Use here & there — ");
});

test("headings become heading paths; setext, lists, tables, code and front matter", () => {
  const md = `---
title: "Guide"
tags: [a]
---
Intro text.

Part one
========

- item one
  continues here
1. numbered

| A | B |
|---|:-:|
| 1 | 2 |

## Deep *section* ##

\`\`\`js
const x = 1;
\`\`\`

Part two
--------
> quoted line
`;
  const d = markdownToBlocks(md);
  assert.equal(d.title, "Guide");
  const s = blocksToSections(d.blocks, { title: d.title, maxChars: 1000 });
  assert.deepEqual(
    s.map((x) => x.heading),
    [["Guide"], ["Guide", "Part one"], ["Guide", "Part one", "Deep section"], ["Guide", "Part one", "Part two"]],
  ); // === is h1, --- is h2
  assert.equal(s[0].text, "Guide\n\nIntro text.");
  assert.equal(s[1].text, "Part one\n\n- item one continues here\n1. numbered\nA | B\n1 | 2");
  assert.equal(s[2].text, "Deep section\n\nconst x = 1;");
  assert.equal(s[3].text, "Part two\n\nquoted line");
});

test("a heading with no body is carried into the next section; an H1 equal to the title is not repeated", () => {
  const d = markdownToBlocks("# Guide\n\n## Empty\n\n### Child\n\nBody text.\n");
  const s = blocksToSections(d.blocks, { title: "Guide", maxChars: 1000 });
  assert.deepEqual(s, [{ heading: ["Guide", "Empty", "Child"], text: "Guide\n\nEmpty\n\nChild\n\nBody text." }]);
});

test("long sections split at paragraph boundaries, then at spaces", () => {
  const para = (c: string) => `${c} `.repeat(30).trim(); // 59 chars
  const parts = splitLong([para("a"), para("b"), para("c")].join("\n\n"), 130);
  assert.deepEqual(parts, [`${para("a")}\n\n${para("b")}`, para("c")]);
  const long = splitLong("word ".repeat(100).trim(), 50);
  assert.ok(long.every((p) => p.length <= 50 && !p.startsWith(" ")));
  assert.equal(long.join(" "), "word ".repeat(100).trim());
});

test("normalisation: NFC, spaces, blank lines; offsets in code points", () => {
  assert.equal(normalizeText("Cafe\u0301\u00a0 bar\t\r\n\r\n\r\n\u200bnext  line  "), "Caf\u00e9 bar\n\nnext line");
  assert.equal(cpLength("a😀b"), 3);
  assert.equal(cpLength("plain"), 5);
});
