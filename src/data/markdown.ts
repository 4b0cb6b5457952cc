// Markdown to Blocks: front matter stripped (its title kept), ATX and setext
// headings, list items, table rows as "cell | cell", code kept without fences,
// links/images/emphasis/inline HTML/template tags reduced to their text.
// A line-based converter, not a full CommonMark parser: it aims at text a
// model and a retriever can use, not at rendering. Knows nothing about files.
import { normalizeInline, type Block } from "./text.ts";

export interface MarkdownDoc {
  title?: string;
  blocks: Block[];
}

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
  mdash: "—",
  ndash: "–",
  hellip: "…",
  rsquo: "’",
  lsquo: "‘",
  rdquo: "”",
  ldquo: "“",
};

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === "#") {
      const cp = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return cp > 0 && cp < 0x110000 ? String.fromCodePoint(cp) : m;
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

/** Reduces inline Markdown to text. */
export function inlineText(s: string): string {
  if (!/[[\]*_`<&{~!\\]/.test(s)) return s;
  s = s
    .replace(/\{%.*?%\}|\{\{.*?\}\}/g, "") // template tags
    .replace(/<!--.*?-->/g, "")
    .replace(/!\[((?:[^[\]]|\[[^\]]*\])*)\]\((?:[^()]|\([^)]*\))*\)/g, "$1") // images -> alt text
    .replace(/\[((?:[^[\]]|\[[^\]]*\])*)\]\((?:[^()]|\([^)]*\))*\)/g, "$1") // [text](url), one level of nested brackets
    .replace(/\[([^\]]+)\]\[[^\]]*\]/g, "$1") // [text][ref]
    .replace(/<((?:https?|mailto):[^>\s]+)>/g, "$1") // autolinks
    .replace(/<\/?[a-zA-Z][^>]*>/g, "") // inline html tags
    .replace(/`+([^`]+)`+/g, "$1")
    .replace(/(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\1/g, "$2")
    .replace(/(^|[^\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?!\w)/g, "$1$2")
    .replace(/(^|[^\w])_(?=\S)([^_]+?)(?<=\S)_(?!\w)/g, "$1$2")
    .replace(/\\([\\`*_{}[\]()#+\-.!|])/g, "$1");
  return decodeEntities(s);
}

function frontMatter(lines: string[]): { end: number; title?: string } {
  if (lines[0]?.trim() !== "---") return { end: 0 };
  for (let i = 1; i < Math.min(lines.length, 400); i++) {
    const l = lines[i].trim();
    if (l === "---" || l === "...") {
      let title: string | undefined;
      for (let j = 1; j < i; j++) {
        const m = /^title:\s*(.*)$/.exec(lines[j]);
        if (m) title = m[1].trim().replace(/^(["'])(.*)\1$/, "$2");
      }
      return { end: i + 1, title: title || undefined };
    }
  }
  return { end: 0 };
}

const ATX = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const LIST = /^([ \t]*)([-*+]|\d{1,9}[.)])[ \t]+(.*)$/;
const HR = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const TABLE_SEP = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;
const REFDEF = /^ {0,3}\[[^\]]+\]:\s*\S+/;

function tableCells(line: string): string {
  let l = line.trim();
  if (l.startsWith("|")) l = l.slice(1);
  if (l.endsWith("|") && !l.endsWith("\\|")) l = l.slice(0, -1);
  return l
    .split(/(?<!\\)\|/)
    .map((c) => normalizeInline(inlineText(c)))
    .filter((c) => c.length > 0)
    .join(" | ");
}

export function markdownToBlocks(src: string): MarkdownDoc {
  const lines = src.split("\n");
  const fm = frontMatter(lines);
  const blocks: Block[] = [];
  let para: string[] = [];
  let item: { marker: string; text: string[] } | null = null;
  let fence: string | null = null;
  let inComment = false;

  const flushPara = () => {
    if (para.length > 0) {
      const t = normalizeInline(inlineText(para.join(" ")));
      if (t) blocks.push({ kind: "text", text: t });
      para = [];
    }
  };
  const flushItem = () => {
    if (item) {
      const t = normalizeInline(inlineText(item.text.join(" ")));
      if (t) blocks.push({ kind: "text", text: `${item.marker} ${t}`, tight: true });
      item = null;
    }
  };
  const flush = () => {
    flushPara();
    flushItem();
  };

  for (let i = fm.end; i < lines.length; i++) {
    let line = lines[i];
    if (fence !== null) {
      if (line.trimStart().startsWith(fence)) {
        fence = null;
        continue;
      }
      if (line.trim()) blocks.push({ kind: "text", text: line.trimEnd(), tight: true });
      continue;
    }
    if (inComment) {
      const k = line.indexOf("-->");
      if (k < 0) continue;
      inComment = false;
      line = line.slice(k + 3);
    }
    const c0 = line.indexOf("<!--");
    if (c0 >= 0 && line.indexOf("-->", c0) < 0) {
      inComment = true;
      line = line.slice(0, c0);
    }
    let trimmed = line.trim();
    if (trimmed === "") {
      flush();
      continue;
    }
    const first = trimmed.charCodeAt(0);
    // Fast path: a line starting with a letter or digit that is not a list item is paragraph text.
    const plain = (first >= 97 && first <= 122) || (first >= 65 && first <= 90) || first > 127;
    if (!plain) {
      const fm2 = FENCE.exec(line);
      if (fm2) {
        flush();
        fence = fm2[1];
        continue;
      }
      const h = ATX.exec(line);
      if (h) {
        flush();
        blocks.push({ kind: "heading", level: h[1].length, text: inlineText(h[2] ?? "") });
        continue;
      }
      if (HR.test(line)) {
        flush();
        continue;
      }
      if (REFDEF.test(line) || /^\s*\{%.*%\}\s*$/.test(line)) continue;
      if (trimmed.startsWith("|") || (trimmed.includes("|") && TABLE_SEP.test(lines[i + 1] ?? "x") && !TABLE_SEP.test(trimmed))) {
        if (TABLE_SEP.test(trimmed)) continue;
        flush();
        const row = tableCells(trimmed);
        if (row) blocks.push({ kind: "text", text: row, tight: true });
        continue;
      }
      if (trimmed.startsWith(">")) {
        line = trimmed.replace(/^(>\s?)+/, "");
        trimmed = line.trim();
        if (!trimmed) continue;
      }
      if (TABLE_SEP.test(trimmed) && trimmed.includes("|")) continue;
    }
    const li = plain && !(first >= 48 && first <= 57) ? null : LIST.exec(line);
    if (li) {
      flush();
      const marker = /\d/.test(li[2]) ? li[2] : "-";
      item = { marker, text: [li[3]] };
      continue;
    }
    // Setext heading: a single paragraph line underlined with === or ---.
    const next = lines[i + 1];
    if (para.length === 0 && !item && next !== undefined && /^ {0,3}(=+|-+)[ \t]*$/.test(next)) {
      blocks.push({ kind: "heading", level: next.trim()[0] === "=" ? 1 : 2, text: inlineText(trimmed) });
      i++;
      continue;
    }
    if (item && /^[ \t]/.test(line)) item.text.push(trimmed);
    else {
      flushItem();
      para.push(trimmed);
    }
  }
  flush();
  return { title: fm.title, blocks };
}
