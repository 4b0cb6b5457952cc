// `slm pull REPO[:REVISION] [--include GLOB]…`: downloads a model repository
// from the Hugging Face Hub into the shared cache (huggingface_hub's layout,
// so Python and slm reuse each other's downloads) and prints the snapshot
// path (progress: pull-progress.ts, shared with `--pull` on other commands).
// Thin: the work is in src/formats/hub/pull.ts.
import { UsageError } from "../errors.ts";
import { hubSettings } from "../formats/hub/cache.ts";
import { pullModel, type PullResult } from "../formats/hub/pull.ts";
import { parse, type Command, type CommandContext } from "./command.ts";
import { pullReporter, pullSummary } from "./pull-progress.ts";

const HELP = `Usage: slm pull REPO[:REVISION] [--include GLOB]... [--exclude GLOB]... [--all] [--verify] [--json]

Downloads a model repository from the Hugging Face Hub into the cache that
huggingface_hub uses ($HF_HOME/hub, default ~/.cache/huggingface/hub), so
files a Python user already downloaded are reused and theirs see ours. Prints
the local snapshot path. Downloads resume after a cut connection (also in a
later run), every file is checked against the Hub's sha256 / git hash before
it is placed, and a second pull of the same revision downloads nothing.

REPO is org/name; :REVISION a branch, tag or commit (default main);
org/name/FILE pulls that one file. Commands that take a model (--model,
--base, --teacher, --init-from, export/import) accept the same references and
read them from the cache; add --pull to such a command to pull first.

What is downloaded: without --include, the files slm can use: when the
repository has safetensors weights, everything except other weight formats
(PyTorch .bin, ONNX, GGUF, …); a repository of several GGUF files asks you to
choose one with --include. --all takes every file.

Options:
  --include GLOB   only files matching GLOB (fnmatch: * also crosses "/");
                   repeatable
  --exclude GLOB   leave out files matching GLOB; repeatable
  --all            every file of the revision
  --verify         re-hash the files already in the cache (huggingface_hub checks
                   sizes only); a mismatch is downloaded again
  --json           JSON lines: one per file event, then the result
  --quiet          no progress, only the path

Environment (the same as huggingface_hub):
  HF_HOME, HF_HUB_CACHE   where the cache lives
  HF_ENDPOINT             the Hub's URL (a mirror); default https://huggingface.co
  HF_TOKEN                token for gated or private repositories (else the
                          file written by \`huggingface-cli login\`)
  HF_HUB_OFFLINE=1        no network: succeed only from the cache

Examples:
  slm pull Qwen/Qwen2.5-0.5B-Instruct
  slm pull HuggingFaceTB/SmolLM2-135M-Instruct:main
  slm pull Qwen/Qwen2.5-0.5B-Instruct-GGUF --include '*q8_0.gguf'
  slm chat --model Qwen/Qwen2.5-0.5B-Instruct`;

export const pullCommand: Command = {
  name: "pull",
  summary: "Download a model from the Hugging Face Hub into the shared cache (resumable, verified)",
  help: HELP,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v, positionals } = parse(argv, {
      include: { type: "string", multiple: true },
      exclude: { type: "string", multiple: true },
      all: { type: "boolean" },
      verify: { type: "boolean" },
      json: { type: "boolean" },
      quiet: { type: "boolean" },
    });
    if (positionals.length !== 1)
      throw new UsageError(positionals.length === 0 ? "give the repository to pull (org/name)" : `one repository at a time, got ${positionals.length}`, {
        hint: "slm pull Qwen/Qwen2.5-0.5B-Instruct",
      });
    if (v.all && v.include) throw new UsageError("--all and --include exclude each other");
    const settings = hubSettings();
    const rep = pullReporter(ctx, { json: v.json === true, quiet: v.quiet === true });
    const t0 = performance.now();
    let r: PullResult;
    try {
      r = await pullModel(positionals[0]!, {
        settings,
        ...(v.include ? { include: v.include } : {}),
        ...(v.exclude ? { exclude: v.exclude } : {}),
        ...(v.all ? { all: true } : {}),
        ...(v.verify ? { verify: true } : {}),
        onEvent: rep.onEvent,
      });
    } finally {
      rep.clear();
    }
    const seconds = (performance.now() - t0) / 1000;
    if (v.json) {
      ctx.out(
        JSON.stringify({
          type: "result",
          repoId: r.repoId,
          revision: r.revision,
          commit: r.commit,
          snapshot: r.snapshot,
          bytes: r.bytes,
          received: r.received,
          offline: r.offline,
          seconds,
          files: r.files,
        }),
      );
      return 0;
    }
    if (!v.quiet) ctx.err(pullSummary(r, seconds));
    ctx.out(r.snapshot);
    return 0;
  },
};
