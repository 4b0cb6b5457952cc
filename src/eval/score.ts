// Answer scoring for QA evaluation. normalizeAnswer: NFKC, lower case,
// apostrophes dropped, "%" -> " percent ", commas inside numbers dropped,
// number words zero..twenty and the tens -> digits, every other run of
// non-alphanumerics -> one space, the articles a/an/the dropped. A model
// answer matches when the normalised gold answer or one of its aliases occurs
// in the normalised answer as a whole-word substring. Pure text.

const NUMBER_WORDS: Record<string, string> = {
  zero: "0",
  one: "1",
  two: "2",
  three: "3",
  four: "4",
  five: "5",
  six: "6",
  seven: "7",
  eight: "8",
  nine: "9",
  ten: "10",
  eleven: "11",
  twelve: "12",
  thirteen: "13",
  fourteen: "14",
  fifteen: "15",
  sixteen: "16",
  seventeen: "17",
  eighteen: "18",
  nineteen: "19",
  twenty: "20",
  thirty: "30",
  forty: "40",
  fifty: "50",
  sixty: "60",
  seventy: "70",
  eighty: "80",
  ninety: "90",
};
const ARTICLES = new Set(["a", "an", "the"]);

export function normalizeAnswer(s: string): string {
  const t = s
    .normalize("NFKC")
    .toLowerCase()
    .replace(/['’‘`]/g, "")
    .replace(/%/g, " percent ")
    .replace(/(\d),(?=\d{3}\b)/g, "$1")
    .replace(/[^\p{L}\p{N}]+/gu, " ");
  return t
    .split(" ")
    .filter((w) => w.length > 0 && !ARTICLES.has(w))
    .map((w) => NUMBER_WORDS[w] ?? w)
    .join(" ");
}

/** Whether the answer contains the gold answer or an alias (normalised, whole words). Empty golds never match. */
export function answerMatches(answer: string, gold: string, aliases: readonly string[] = []): boolean {
  const a = ` ${normalizeAnswer(answer)} `;
  for (const g of [gold, ...aliases]) {
    const n = normalizeAnswer(g);
    if (n.length > 0 && a.includes(` ${n} `)) return true;
  }
  return false;
}

/** Whether a retrieved source label names the gold file: equal, or one ends with "/" + the other. */
export function sameSource(retrieved: string, gold: string): boolean {
  const r = retrieved.replace(/\\/g, "/").replace(/^\.\//, "");
  const g = gold.replace(/\\/g, "/").replace(/^\.\//, "");
  return r === g || r.endsWith(`/${g}`) || g.endsWith(`/${r}`);
}
