// Ask documents a question and get an answer with citations, or "Not found
// in the documents.": ingest a folder (no tokenizer needed), index its
// sections (BM25 in SQLite), and answer extractively (no model: the sentence
// the fitted picker prefers, cited). Pass a model to `answer` to generate
// the answer instead (docs/assistant.md).
//
//   node --conditions=slmkit-source --import tsx examples/ask.ts DOCS OUT "How far ahead must I request leave?"
import { join } from "node:path";

import { answer, buildIndex, HashEmbedder, ingest, SectionIndex } from "slmkit";

const [docs, out, question = "How far ahead should I submit a leave request?"] = process.argv.slice(2);
if (!docs || !out) {
  console.error("usage: ask.ts DOCS OUT [QUESTION]");
  process.exit(2);
}

await ingest({ inputs: [docs], out: join(out, "dataset") });
const info = buildIndex({ dataset: join(out, "dataset"), out: join(out, "index.sqlite"), embedder: new HashEmbedder() });
console.log(`indexed ${info.sections} sections of ${info.documents} documents`);

const index = SectionIndex.open(join(out, "index.sqlite"));
try {
  const a = await answer(question, { index });
  console.log(`Q: ${question}\nA: ${a.text}`);
  for (const c of a.citations) console.log(`  [${c.n}] ${c.sourcePath} › ${c.headingPath}`);
  console.log(`(answer confidence ${a.retrieval.confidence.toFixed(2)}, threshold ${a.retrieval.minConfidence})`);
} finally {
  index.close();
}
