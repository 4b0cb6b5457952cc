// The grounded-QA data step of `slm finetune --task grounded-qa`: opens the
// index, gathers question seeds (synthetic ones from the documents, the
// user's --qa pairs, a teacher's pairs when --teacher-url is given), builds
// the SFT examples in answer()'s prompt format (src/assistant/synth.ts) and
// writes them to RUN/grounded-qa.jsonl for inspection. Thin: no logic of its own
// beyond wiring flags to the library.
import { join } from "node:path";

import { UsageError } from "../errors.ts";
import { writeFileAtomicSync } from "../util/atomic.ts";
import { SectionIndex } from "../assistant/index-db.ts";
import { buildGroundedExamples, readQaPairs, synthSeeds, teacherSeeds, type QaSeed } from "../assistant/synth.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import type { ChatExample } from "../train/sft.ts";
import { DEFAULT_RETRIEVAL_MODE, needsEmbedder } from "../assistant/retrieve.ts";
import { embedderFor } from "../assistant/open-embedder.ts";

export interface GroundedFlags {
  index?: string;
  qa?: string;
  synthetic?: number;
  teacherUrl?: string;
  teacherModel?: string;
  teacherSections?: number;
  negatives?: number;
  answerTokens: number;
  context: number;
  seed: number;
}

export async function groundedQaExamples(f: GroundedFlags, tok: Tokenizer, runDir: string, say: (s: string) => void): Promise<ChatExample[]> {
  if (!f.index) throw new UsageError("--task grounded-qa needs --index INDEX (made by slm index)");
  if ((f.teacherUrl === undefined) !== (f.teacherModel === undefined)) throw new UsageError("--teacher-url and --teacher-model go together");
  const index = SectionIndex.open(f.index);
  try {
    const embedder = needsEmbedder(DEFAULT_RETRIEVAL_MODE) ? embedderFor(index.info.embedder) : undefined;
    const seeds: QaSeed[] = [];
    if (f.qa) seeds.push(...readQaPairs(f.qa));
    const nSynth = f.synthetic ?? (f.qa || f.teacherUrl ? 0 : 2000);
    if (nSynth > 0) seeds.push(...synthSeeds(index, nSynth, f.seed));
    if (f.teacherUrl && f.teacherModel) {
      const t = await teacherSeeds(index, { url: f.teacherUrl, model: f.teacherModel, sections: f.teacherSections ?? 50, seed: f.seed });
      say(`  teacher ${f.teacherModel}: ${t.seeds.length} pairs from ${t.asked} sections (${t.rejected} rejected: answer not in the section)`);
      seeds.push(...t.seeds);
    }
    if (seeds.length === 0) throw new UsageError("no questions: give --synthetic N (> 0), --qa FILE or --teacher-url/--teacher-model");
    const t0 = performance.now();
    const { examples, stats } = buildGroundedExamples(seeds, {
      index,
      embedder,
      tokenizer: tok,
      context: f.context,
      maxNew: f.answerTokens,
      negativeShare: f.negatives ?? 0.1,
      seed: f.seed,
    });
    say(
      `  grounded-qa: ${stats.examples} examples (${Object.entries(stats.byOrigin)
        .map(([k, n]) => `${n} ${k}`)
        .join(
          ", ",
        )}, ${stats.negatives} not-found) from ${stats.seeds} questions; ${stats.missed} dropped (answer not in the retrieved context); ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    if (examples.length === 0) throw new UsageError("no grounded example could be built (retrieval never showed the answer)");
    writeFileAtomicSync(join(runDir, "grounded-qa.jsonl"), `${examples.map((m) => JSON.stringify({ messages: m })).join("\n")}\n`, { mkdir: true });
    return examples.map((messages, i) => ({ messages, line: i + 1 }));
  } finally {
    index.close();
  }
}
