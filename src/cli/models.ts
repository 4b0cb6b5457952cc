// `slm models [FILTER] [--json]`: lists the models in the Hugging Face cache
// (pulled by slm or downloaded by Python): repository, revision, commit, size,
// architecture, quantization. Thin: the work is in src/formats/hub/inspect.ts.
import { hubSettings } from "../formats/hub/cache.ts";
import { listCachedModels } from "../formats/hub/inspect.ts";
import { UsageError } from "../errors.ts";
import { parse, type Command, type CommandContext } from "./command.ts";
import { formatBytes } from "./format.ts";

const HELP = `Usage: slm models [FILTER] [--json]

Lists the model repositories in the Hugging Face cache ($HF_HUB_CACHE, default
$HF_HOME/hub = ~/.cache/huggingface/hub), whether slm pull or Python's
huggingface_hub downloaded them: one row per cached snapshot with the
revisions (branches, tags) pointing at it, its size on disk, architecture
(config.json model_type, or the GGUF's general.architecture) and quantization
(GGUF file type, or the safetensors dtype holding most bytes). Any of these
names works as a model: --model org/name[:revision].

Options:
  FILTER     only repositories whose id contains FILTER (case-insensitive)
  --json     one JSON object: {cacheDir, repos: [{repoId, bytesOnDisk, snapshots: [...]}]}

Examples:
  slm models
  slm models qwen --json`;

export const modelsCommand: Command = {
  name: "models",
  summary: "List the models in the Hugging Face cache: size, architecture, quantization",
  help: HELP,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v, positionals } = parse(argv, { json: { type: "boolean" } });
    if (positionals.length > 1) throw new UsageError(`one FILTER at most, got ${positionals.length}`);
    const settings = hubSettings();
    const filter = positionals[0]?.toLowerCase();
    const repos = listCachedModels(settings).filter((r) => !filter || r.repoId.toLowerCase().includes(filter));
    if (v.json) {
      ctx.out(JSON.stringify({ cacheDir: settings.cacheDir, repos }));
      return 0;
    }
    if (repos.length === 0) {
      ctx.err(`no models${filter ? ` matching "${positionals[0]}"` : ""} in ${settings.cacheDir}; download one with \`slm pull org/name\``);
      return 0;
    }
    const rows: string[][] = [["REPOSITORY", "REVISION", "COMMIT", "SIZE", "ARCH", "QUANT", "FORMAT"]];
    for (const r of repos) {
      if (r.snapshots.length === 0) rows.push([r.repoId, "-", "-", formatBytes(r.bytesOnDisk), "-", "-", "(no snapshot)"]);
      for (const s of r.snapshots) {
        rows.push([
          r.repoId,
          s.refs.join(",") || "-",
          s.commit.slice(0, 7),
          formatBytes(s.bytes),
          s.architecture ?? "?",
          s.quantization ?? "?",
          s.formats.join(",") || "-",
        ]);
      }
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    for (const row of rows) ctx.out(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join("  "));
    const total = repos.reduce((a, r) => a + r.bytesOnDisk, 0);
    const partial = repos.reduce((a, r) => a + r.incompleteBytes, 0);
    ctx.err(
      `${repos.length} repositories, ${formatBytes(total)} on disk${partial > 0 ? ` (${formatBytes(partial)} in partial downloads; \`slm pull\` resumes them)` : ""} in ${settings.cacheDir}`,
    );
    return 0;
  },
};
