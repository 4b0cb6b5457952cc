// Test helpers for the assistant: a tiny handbook written as a dataset
// directory (manifest.json + documents.jsonl, the shape `slm ingest` writes),
// so index, retrieval and answer tests need no ingest run; and a byte-level
// BPE tokenizer trained on it.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { trainBpe, type Tokenizer } from "../tokenizer/index.ts";

export interface TinySection {
  source: string;
  heading: string[];
  text: string;
}

/** Eight sections in four files; each fact appears once. */
export const TINY_HANDBOOK: TinySection[] = [
  { source: "hb/leave.md", heading: ["Leave"], text: "Leave\n\nEveryone gets leave. Ask your manager first." },
  {
    source: "hb/leave.md",
    heading: ["Leave", "Annual leave"],
    text: "Annual leave\n\nFull-time staff earn 25 days of annual leave per year. Up to 5 unused days carry over into the next year.",
  },
  {
    source: "hb/leave.md",
    heading: ["Leave", "Sick leave"],
    text: "Sick leave\n\nTell your manager before 10am on the first day you are sick. A doctor's note is needed after 7 calendar days.",
  },
  {
    source: "hb/travel.md",
    heading: ["Travel"],
    text: "Travel\n\nBook trains and flights through Wayfarer at least 14 days ahead. Economy class is the default for journeys under six hours.",
  },
  {
    source: "hb/travel.md",
    heading: ["Travel", "Per diems"],
    text: "Per diems\n\nThe daily meal allowance is 45 euros in Lisbon and 60 euros in Oslo. Hotels are booked by the travel desk.",
  },
  {
    source: "hb/security.md",
    heading: ["Passwords"],
    text: "Passwords\n\nPasswords must be at least 14 characters long. Store them in the Latchkey password manager and never reuse them.",
  },
  {
    source: "hb/security.md",
    heading: ["Passwords", "Lost devices"],
    text: "Lost devices\n\nReport a lost laptop or phone to the IT helpdesk within one hour, by calling extension 4200.",
  },
  { source: "hb/pay.md", heading: ["Payroll"], text: "Payroll\n\nSalaries are paid on the 25th of each month. Payslips are in Loomdesk under My pay." },
];

/** Writes the sections as a dataset directory and returns its path. */
export function writeTinyDataset(dir: string, sections: TinySection[] = TINY_HANDBOOK): string {
  mkdirSync(dir, { recursive: true });
  const docIds = new Map<string, string>();
  const counters = new Map<string, number>();
  const rows = sections.map((s) => {
    if (!docIds.has(s.source)) docIds.set(s.source, `d${docIds.size.toString().padStart(3, "0")}`);
    const doc = docIds.get(s.source)!;
    const n = counters.get(doc) ?? 0;
    counters.set(doc, n + 1);
    return {
      id: `${doc}#${n}`,
      doc,
      source: s.source,
      title: s.heading[0],
      heading: s.heading,
      headingPath: s.heading.join(" › "),
      start: 0,
      end: [...s.text].length,
      text: s.text,
    };
  });
  writeFileSync(join(dir, "manifest.json"), JSON.stringify({ version: 1, counts: { sections: rows.length } }));
  writeFileSync(join(dir, "documents.jsonl"), `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
  return dir;
}

/** A byte-level BPE tokenizer trained on the tiny handbook (each section seen five times). */
export function tinyTokenizer(vocabSize: number): Promise<Tokenizer> {
  return trainBpe(
    (function* () {
      for (let i = 0; i < 5; i++) for (const s of TINY_HANDBOOK) yield s.text;
    })(),
    { vocabSize },
  );
}
