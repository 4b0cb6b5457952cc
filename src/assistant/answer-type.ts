// Answer types: what kind of span a question asks for ("How long…" a
// duration, "Where do I email…" an address, "Who…" a person or team) and where
// spans of each kind occur in a sentence. The reader (reader.ts) marks the
// candidate's tokens inside a span of a kind the question asks for, the
// classic answer-type feature of question answering; synthetic typed questions
// (synth.ts) are made from the same spans, so the reader is trained on the
// kinds it later sees (all but frequency and name). The extractive baseline
// (extractive.ts) prefers sentences holding a span of an asked kind. Pure
// text: knows nothing about models or indexes.

/**
 * Kinds of answer span. "number" is any count or amount; the others are narrower. Synthetic
 * questions (synth.ts) ask for all but "frequency" and "name", which only the questions users ask
 * carry ("How often…", "Which tool…", "Who…").
 */
export type SpanKind = "number" | "duration" | "money" | "percent" | "email" | "url" | "clock" | "day" | "place" | "who" | "frequency" | "name";

const SPAN_KINDS: readonly SpanKind[] = ["number", "duration", "money", "percent", "email", "url", "clock", "day", "place", "who", "frequency", "name"];

const NUMBER_WORD = "(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|ninety|hundred)";
const NUM = `(?:\\d[\\d,]*(?:\\.\\d+)?|${NUMBER_WORD}(?:[- ]${NUMBER_WORD})?)`;
const TIME_UNITS = "(?:(?:business|calendar|working|work) )?(?:minute|hour|day|week|month|year|pay period)s?";
const PERIOD = "(?:day|week|fortnight|month|quarter|year|pay period)";
const PART_OF_DAY = "(?:morning|afternoon|evening|night|weekday|monday|tuesday|wednesday|thursday|friday|saturday|sunday)";

/**
 * The span patterns of each kind (global regexes). A number span takes the unit after it, as
 * synthetic questions ask for it ("how many business days"); a duration is a number and a unit of
 * time; a place is a preposition and a capitalised name ("in Concur", "via the Travel > Trips page").
 */
const SPAN_PATTERNS: Readonly<Record<SpanKind, RegExp>> = {
  number: new RegExp(`(?<![\\w.])\\$?${NUM}(?:\\s*(?:%|percent|dollars?|people|times|participants|${TIME_UNITS}))?(?![\\w@])`, "gi"),
  duration: new RegExp(`\\b${NUM}(?:\\s+|-)${TIME_UNITS}\\b`, "gi"),
  money: /(?:[$£€]\s?\d[\d,]*(?:\.\d+)?(?:\s*(?:k|million|billion)\b)?|\b\d[\d,]*(?:\.\d+)?\s*(?:dollars?|euros?|pounds?|USD|GBP|EUR)\b)/gi,
  percent: /\b\d[\d,]*(?:\.\d+)?\s*(?:%|percent\b)/gi,
  email: /\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b/g,
  url: /\bhttps?:\/\/[^\s)\]>]+/g,
  clock: /\b(?:\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)(?=\W|$)|\d{1,2}:\d{2}\b|noon\b|midday\b|midnight\b)/gi,
  day: /\b(?:(?:on|every|each|by|before|after|until)\s+)?(?:(?:the\s+)?(?:first|last|final)(?:\s+(?:working|business|calendar))?\s+(?:day|week|monday|tuesday|wednesday|thursday|friday)(?:\s+of\s+(?:the|each|every)\s+(?:month|year|quarter))?|(?:the\s+)?\d{1,2}(?:st|nd|rd|th)(?:\s+(?:of\s+)?(?:the|each|every)\s+month)?|(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?|(?:january|february|march|april|may|june|july|august|september|october|november|december)\s+\d{1,2}(?:st|nd|rd|th)?)\b/gi,
  place: /\b(?:in|under|through|via|at|on|from)\s+(?:the\s+)?[A-Z][\w-]*(?:\s+(?:[A-Z>][\w-]*|&|>))*/g,
  who: /\b(?:your (?:manager|supervisor|line manager|team lead|lead)|the [A-Z][\w-]*(?:\s+(?:[A-Z][\w-]*|and|&))*\s+(?:team|office|desk|group|division)|HR|IT|Finance|Security|Payroll|PeopleOps|People Ops)\b/g,
  // "twice a week", "3 times per year", "every afternoon", "each other month", "monthly".
  frequency: new RegExp(
    `\\b(?:(?:once|twice|${NUM} times)\\s+(?:a|an|per|each|every)\\s+${PERIOD}|(?:every|each)\\s+(?:(?:other|second|${NUM})\\s+)?(?:${PERIOD}|${PART_OF_DAY})s?|daily|weekly|fortnightly|monthly|quarterly|annually|yearly)\\b`,
    "gi",
  ),
  // A proper name inside a sentence: capitalised words (not the sentence's first word), or a word
  // with a capital or digit after its first letter ("KeePassXC", "1Password", "Help Scout", "OPM Form 630").
  name: /(?<=[\p{L}\p{N},;:)]\s+(?:(?:the|our|your|a|an)\s+)?)(?:[A-Z][\p{L}\p{N}-]*|\p{L}+[A-Z][\p{L}\p{N}]*|\d+[A-Za-z][\p{L}\p{N}]*)(?:\s+(?:[A-Z0-9][\p{L}\p{N}-]*))*/gu,
};

const NUMBER_PREFIX = new RegExp(`^\\s*[$£€]?\\s*${NUM}[\\s-]*`, "i");
const TIME_UNIT_ONLY = new RegExp(`^${TIME_UNITS}$`, "i");

/** The unit after a number span ("5 business days" -> "business days", "$40" -> ""), lower case. */
export function numberUnit(span: string): string {
  return span.replace(NUMBER_PREFIX, "").trim().toLowerCase();
}

/** Whether a unit (numberUnit's result) is a unit of time. */
export function isTimeUnit(unit: string): boolean {
  return TIME_UNIT_ONLY.test(unit);
}

/** A span of a kind within a text (character offsets, end exclusive). */
export interface TypedSpan {
  start: number;
  end: number;
  kind: SpanKind;
}

/** Every span of the given kinds in `text` (overlaps allowed; in order of kind, then position). */
export function findSpans(text: string, kinds: Iterable<SpanKind> = SPAN_KINDS): TypedSpan[] {
  const out: TypedSpan[] = [];
  for (const kind of kinds) {
    for (const m of text.matchAll(SPAN_PATTERNS[kind])) if (m[0].trim() !== "") out.push({ start: m.index!, end: m.index! + m[0].length, kind });
  }
  return out;
}

/** The first span of a kind in `text`, or null. */
export function firstSpan(text: string, kind: SpanKind): TypedSpan | null {
  const [m] = text.matchAll(SPAN_PATTERNS[kind]);
  return m ? { start: m.index!, end: m.index! + m[0].length, kind } : null;
}

// Question phrases and the kinds of answer they ask for; a question may ask for several (a
// "when" is a day, a time or a delay). Checked in order; every rule that matches adds its kinds.
const QUESTION_RULES: { re: RegExp; kinds: SpanKind[] }[] = [
  {
    re: /\bhow (?:long|soon|quickly|early|late|far (?:ahead|in advance)|far before|often|frequently)\b|\bwithin how (?:many|long)\b|\bhow much (?:time|notice)\b/i,
    kinds: ["duration", "number"],
  },
  { re: new RegExp(`\\bhow many ${TIME_UNITS}\\b`, "i"), kinds: ["duration", "number"] },
  { re: /\bhow many\b|\bwhat number of\b|\bup to how many\b/i, kinds: ["number"] },
  {
    re: /\bhow much\b|\bwhat (?:amount|is the (?:limit|cap|maximum|minimum|deposit|budget|allowance|rate|fee|cost))\b/i,
    kinds: ["money", "percent", "number"],
  },
  { re: /\bwhat (?:percentage|percent|share|proportion|fraction)\b/i, kinds: ["percent", "number"] },
  // A bound asks for a quantity: "the longest leave" (4 months), "the biggest team" (4 people), "the maximum value" ($50).
  {
    re: /\b(?:longest|shortest|maximum|minimum|max|min|biggest|largest|smallest|most|fewest|least|highest|lowest|earliest|latest)\b(?!\s+(?:important|recent|common|popular|likely|useful|relevant)\b)/i,
    kinds: ["number"],
  },
  { re: /\b(?:e-?mail address|which address|what address|email)\b/i, kinds: ["email"] },
  { re: /\b(?:what|which) (?:link|url|web ?site|page)\b/i, kinds: ["url"] },
  { re: /\b(?:what|by what|at what) time\b|\bwhat are the (?:core |office )?hours\b/i, kinds: ["clock"] },
  { re: /\bwhen\b/i, kinds: ["day", "clock", "duration"] },
  { re: /\bdeadline\b/i, kinds: ["day", "clock", "duration"] },
  { re: /\bhow (?:often|frequently)\b|\bhow many times\b/i, kinds: ["frequency"] },
  {
    re: /\b(?:which|what)(?:\s+[\w-]+)?\s+(?:tool|tools|app|apps|application|software|system|service|platform|provider|vendor|company|firm|insurer|bank|form|program|programme|scheme|product|manager|vpn|browser|channel|portal|site)\b/i,
    kinds: ["name"],
  },
  { re: /\b(?:which|what|on what) (?:day|date|days)\b|\bwhat deadline\b|\bby when\b/i, kinds: ["day"] },
  { re: /\bwhere\b/i, kinds: ["place", "url", "email"] },
  { re: /\bwho(?:m|se)?\b/i, kinds: ["who", "name"] },
];

/** The kinds of span a question asks for (empty when it asks for none in particular: "How do I…", "Can I…"). */
export function questionKinds(question: string): Set<SpanKind> {
  const out = new Set<SpanKind>();
  for (const r of QUESTION_RULES) if (r.re.test(question)) for (const k of r.kinds) out.add(k);
  return out;
}
