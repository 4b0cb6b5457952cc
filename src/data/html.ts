// HTML (and DOCX, through mammoth's HTML) to Blocks. Parses with linkedom;
// for web pages, Mozilla Readability picks the main content when it finds an
// article, otherwise the body is used minus nav/header/footer/aside/forms.
// h1–h6 become headings, li "- item" lines, tr "cell | cell" lines, p/div/etc.
// paragraphs; scripts, styles and markup are dropped.
// Knows nothing about files, sections or cleaning.
import { Readability } from "@mozilla/readability";
import { parseHTML } from "linkedom";

import { normalizeInline, type Block } from "./text.ts";

export interface HtmlDoc {
  title?: string;
  blocks: Block[];
  /** Which content was used: Readability's article, or the body with boilerplate elements removed. */
  mode: "article" | "body";
}

// Minimal structural view of the DOM nodes we walk (linkedom's own types are loose).
interface DomNode {
  nodeType: number;
  nodeName: string;
  textContent: string | null;
  childNodes: ArrayLike<DomNode>;
  getAttribute?(name: string): string | null;
  setAttribute?(name: string, v: string): void;
}

const SKIP = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "SVG", "IFRAME", "OBJECT", "CANVAS", "BUTTON", "SELECT", "INPUT", "TEXTAREA", "HEAD"]);
const BOILERPLATE = new Set(["NAV", "HEADER", "FOOTER", "ASIDE", "FORM", "MENU", "DIALOG"]);
const BLOCK = new Set([
  "P",
  "DIV",
  "SECTION",
  "ARTICLE",
  "MAIN",
  "BLOCKQUOTE",
  "FIGURE",
  "FIGCAPTION",
  "DL",
  "DT",
  "DD",
  "ADDRESS",
  "DETAILS",
  "SUMMARY",
  "CAPTION",
  "BODY",
  "HTML",
  "UL",
  "OL",
  "TABLE",
  "THEAD",
  "TBODY",
  "TFOOT",
  "CENTER",
  "HGROUP",
  "FIELDSET",
  "LEGEND",
]);
const BOILERPLATE_ROLES = new Set(["navigation", "banner", "contentinfo", "complementary", "search"]);

/** Walks a DOM subtree and emits blocks. */
function walk(root: DomNode, dropBoilerplate: boolean): Block[] {
  const blocks: Block[] = [];
  let inline = "";
  const flush = () => {
    for (const line of inline.split("\n")) {
      const t = normalizeInline(line);
      if (t) blocks.push({ kind: "text", text: t });
    }
    inline = "";
  };
  const visit = (n: DomNode): void => {
    if (n.nodeType === 3) {
      inline += n.textContent ?? "";
      return;
    }
    if (n.nodeType !== 1) return;
    const tag = n.nodeName.toUpperCase();
    if (SKIP.has(tag)) return;
    if (n.getAttribute?.("hidden") !== null && n.getAttribute?.("hidden") !== undefined) return;
    if (n.getAttribute?.("aria-hidden") === "true") return;
    if (dropBoilerplate && (BOILERPLATE.has(tag) || BOILERPLATE_ROLES.has(n.getAttribute?.("role") ?? ""))) return;
    if (/^H[1-6]$/.test(tag)) {
      flush();
      const lv = Number(n.getAttribute?.("data-slm-level") ?? tag[1]);
      blocks.push({ kind: "heading", level: lv >= 1 && lv <= 6 ? lv : Number(tag[1]), text: n.textContent ?? "" });
      return;
    }
    if (tag === "BR") {
      inline += "\n";
      return;
    }
    if (tag === "PRE") {
      flush();
      for (const line of (n.textContent ?? "").split("\n")) if (line.trim()) blocks.push({ kind: "text", text: line.trimEnd(), tight: true });
      return;
    }
    if (tag === "LI") {
      flush();
      // The item's own text; nested lists become their own items.
      let own = "";
      const nested: DomNode[] = [];
      const collect = (c: DomNode) => {
        if (c.nodeType === 3) own += c.textContent ?? "";
        else if (c.nodeType === 1) {
          const t = c.nodeName.toUpperCase();
          if (t === "UL" || t === "OL") nested.push(c);
          else if (!SKIP.has(t)) for (const k of Array.from(c.childNodes)) collect(k);
          if (t === "P" || t === "DIV" || t === "BR") own += " ";
        }
      };
      for (const c of Array.from(n.childNodes)) collect(c);
      const t = normalizeInline(own);
      if (t) blocks.push({ kind: "text", text: `- ${t}`, tight: true });
      for (const c of nested) visit(c);
      return;
    }
    if (tag === "TR") {
      flush();
      const cells: string[] = [];
      for (const c of Array.from(n.childNodes)) {
        if (c.nodeType !== 1) continue;
        const t = c.nodeName.toUpperCase();
        if (t === "TD" || t === "TH") {
          const v = normalizeInline(c.textContent ?? "");
          if (v) cells.push(v);
        }
      }
      if (cells.length > 0) blocks.push({ kind: "text", text: cells.join(" | "), tight: true });
      return;
    }
    const isBlock = BLOCK.has(tag);
    if (isBlock) flush();
    for (const c of Array.from(n.childNodes)) visit(c);
    if (isBlock) flush();
    else if (tag === "TD" || tag === "TH") inline += " ";
  };
  visit(root);
  flush();
  return blocks;
}

/** A web page: Readability's article when it finds one, else the body without boilerplate. */
export function htmlToBlocks(html: string): HtmlDoc {
  // linkedom only builds <html>/<body> when the source has them; give fragments a frame.
  if (!/<html[\s>]/i.test(html)) html = /<body[\s>]/i.test(html) ? `<!doctype html><html>${html}</html>` : `<!doctype html><html><body>${html}</body></html>`;
  const { document } = parseHTML(html);
  const doc = document as unknown as { title?: string; body: DomNode | null; documentElement: DomNode; querySelectorAll(s: string): ArrayLike<DomNode> };
  // Readability demotes h1 to h2; remember each heading's real level first.
  for (const h of Array.from(doc.querySelectorAll("h1,h2,h3,h4,h5,h6"))) h.setAttribute?.("data-slm-level", h.nodeName[1]);
  const h1 = Array.from(doc.querySelectorAll("h1"))[0];
  const title = normalizeInline(h1?.textContent ?? "") || normalizeInline(doc.title ?? "") || undefined;
  type Article = { title?: string | null; content?: DomNode | null; textContent?: string | null };
  // Readability's typings name DOM globals this project does not load (no "dom" lib); view it structurally.
  const ReadabilityCtor = Readability as unknown as new (doc: unknown, opts: { serializer: (n: unknown) => unknown }) => { parse(): Article | null };
  let article: Article | null = null;
  try {
    // Readability mutates the document, so it works on a clone.
    const { document: copy } = parseHTML(html);
    for (const h of Array.from((copy as unknown as typeof doc).querySelectorAll("h1,h2,h3,h4,h5,h6"))) h.setAttribute?.("data-slm-level", h.nodeName[1]);
    article = new ReadabilityCtor(copy, { serializer: (n) => n }).parse();
  } catch {
    article = null;
  }
  if (article?.content && (article.textContent ?? "").trim().length >= 200) {
    const blocks = walk(article.content, false);
    const t = title ?? (normalizeInline(article.title ?? "") || undefined);
    // Readability drops an h1 that repeats the title; put it back as the top heading.
    if (t && !blocks.some((b) => b.kind === "heading" && b.level === 1)) blocks.unshift({ kind: "heading", level: 1, text: t });
    return { title: t, blocks, mode: "article" };
  }
  const root = doc.body ?? doc.documentElement;
  return { title, blocks: walk(root, true), mode: "body" };
}

/** An HTML fragment we produced or trust (mammoth's DOCX output): no main-content detection. */
export function htmlFragmentToBlocks(html: string): Block[] {
  const { document } = parseHTML(`<!doctype html><html><body>${html}</body></html>`);
  const doc = document as unknown as { body: DomNode };
  return walk(doc.body, false);
}
