// Test fixtures for ingestion, built in memory: a minimal valid PDF 1.4 (text
// objects, correct xref offsets, optionally an /Encrypt dictionary that makes
// pdf.js ask for a password) and a minimal DOCX zip (heading-styled paragraphs
// and a table). Used only by tests and the benchmark; imports fflate (a dev
// dependency). Knows nothing about the pipeline.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { strToU8, zipSync } from "fflate";

/** A PDF with one page per entry, each line drawn as a text line. */
export function makePdf(pages: string[][], opts: { encrypt?: boolean } = {}): Uint8Array {
  const objs: string[] = [];
  const n = pages.length;
  objs[1] = "<< /Type /Catalog /Pages 2 0 R >>";
  objs[2] = `<< /Type /Pages /Kids [${pages.map((_, i) => `${4 + 2 * i} 0 R`).join(" ")}] /Count ${n} >>`;
  objs[3] = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";
  pages.forEach((lines, i) => {
    const stream = `BT /F1 12 Tf 72 720 Td 14 TL ${lines.map((l) => `(${l.replace(/([()\\])/g, "\\$1")}) Tj T*`).join(" ")} ET`;
    objs[4 + 2 * i] = `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${5 + 2 * i} 0 R >>`;
    objs[5 + 2 * i] = `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`;
  });
  let trailerExtra = "";
  if (opts.encrypt) {
    // Standard security handler, RC4 40-bit; /U does not match the empty user password.
    const id = 4 + 2 * n;
    objs[id] = `<< /Filter /Standard /V 1 /R 2 /O <${"ab".repeat(32)}> /U <${"00".repeat(32)}> /P -4 >>`;
    trailerExtra = ` /Encrypt ${id} 0 R /ID [<${"0123456789abcdef".repeat(2)}> <${"0123456789abcdef".repeat(2)}>]`;
  }
  let out = "%PDF-1.4\n";
  const offsets: number[] = [];
  for (let i = 1; i < objs.length; i++) {
    offsets[i] = out.length;
    out += `${i} 0 obj\n${objs[i]}\nendobj\n`;
  }
  const xref = out.length;
  out += `xref\n0 ${objs.length}\n0000000000 65535 f \n`;
  for (let i = 1; i < objs.length; i++) out += `${String(offsets[i]).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objs.length} /Root 1 0 R${trailerExtra} >>\nstartxref\n${xref}\n%%EOF\n`;
  return strToU8(out);
}

export type DocxBlock = { h: 1 | 2 | 3; text: string } | { p: string } | { table: string[][] };

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A DOCX with Heading1–3 styled paragraphs, plain paragraphs and tables. */
export function makeDocx(blocks: DocxBlock[]): Uint8Array {
  const W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
  const para = (text: string, style?: string) =>
    `<w:p>${style ? `<w:pPr><w:pStyle w:val="${style}"/></w:pPr>` : ""}<w:r><w:t xml:space="preserve">${esc(text)}</w:t></w:r></w:p>`;
  const body = blocks
    .map((b) => {
      if ("h" in b) return para(b.text, `Heading${b.h}`);
      if ("p" in b) return para(b.p);
      return `<w:tbl>${b.table.map((row) => `<w:tr>${row.map((c) => `<w:tc>${para(c)}</w:tc>`).join("")}</w:tr>`).join("")}</w:tbl>`;
    })
    .join("");
  const styles = [1, 2, 3].map((k) => `<w:style w:type="paragraph" w:styleId="Heading${k}"><w:name w:val="heading ${k}"/></w:style>`).join("");
  return zipSync({
    "[Content_Types].xml": strToU8(
      `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/></Types>`,
    ),
    "_rels/.rels": strToU8(
      `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`,
    ),
    "word/_rels/document.xml.rels": strToU8(
      `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>`,
    ),
    "word/styles.xml": strToU8(`<?xml version="1.0" encoding="UTF-8"?><w:styles xmlns:w="${W}">${styles}</w:styles>`),
    "word/document.xml": strToU8(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="${W}"><w:body>${body}</w:body></w:document>`),
  });
}

/** The shared data directory (../shared from the repo root), or undefined when absent. */
export function sharedDir(): string | undefined {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  // ../shared at CI time; one level further for worktrees kept in a sibling folder.
  for (const c of [join(root, "..", "shared"), join(root, "..", "..", "shared")]) if (existsSync(join(c, "corpora"))) return c;
  return undefined;
}
