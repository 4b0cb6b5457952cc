#!/usr/bin/env bash
# The README's "A 5-minute tour", run so that two checkouts can be compared:
# fixed step counts instead of time budgets, fixed seeds, greedy decoding,
# --json where a command has it (and the plain form too where it is cheap),
# one core (SLM_THREADS=1 unless set). Each step's stdout, stderr, exit code
# and the files it wrote (size, SHA-256) go to numbered files in OUTDIR; the
# steps' scratch work happens in OUTDIR/work. tools/tour/compare.mjs diffs two
# such directories. Not part of npm test: it trains small models (a few
# minutes of one core).
#
# It knows nothing of what the outputs should be; it only records them.
set -u

usage() {
  cat <<'EOF'
Usage: tools/tour/run.sh [--repo DIR] OUTDIR

Runs the README tour's commands (ingest, tokenizer train/encode, train, eval,
generate, index, ask, eval qa, train-reader + ask --model, finetune --method
lora, distill, export gguf q8_0/q4_k_m, export hf + import, every --help)
against the slmkit checkout DIR (default: the one holding this script; or
SLM_TOUR_REPO) and records them in OUTDIR (created; must not exist or be empty):

  OUTDIR/meta.txt          repository, commit, node version, threads
  OUTDIR/steps.tsv         number, name, exit code, seconds (one line per step)
  OUTDIR/NNN-NAME.cmd      the command line
  OUTDIR/NNN-NAME.out/.err stdout and stderr
  OUTDIR/NNN-NAME.rc       exit code
  OUTDIR/NNN-NAME.files    files the step wrote: path, size, sha256
  OUTDIR/manifest.tsv      every file under OUTDIR/work at the end: path, size, sha256
  OUTDIR/work/             the scratch directory the commands ran in

Compare two runs with: node tools/tour/compare.mjs OUTDIR_A OUTDIR_B
Environment: SLM_THREADS (default 1), SLM_TOUR_REPO, SLM_TOUR_STEPS (train steps, default 40).

Before/after issue 23 (05e93c3^ = bda30e6, the last commit before it), from the repository root:
  git worktree add --detach ../tour-before 05e93c3^
  ln -s "$PWD/node_modules" ../tour-before/node_modules && (cd ../tour-before && npm run build:native)
  tools/tour/run.sh --repo ../tour-before /tmp/tour/before && tools/tour/run.sh /tmp/tour/after
  node tools/tour/compare.mjs --known tools/tour/known-differences.json /tmp/tour/before /tmp/tour/after
EOF
}

repo="${SLM_TOUR_REPO:-}"
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --repo) repo="${2:-}"; shift 2 ;;
    -*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) if [ -n "$out" ]; then echo "run.sh: one OUTDIR only" >&2; exit 2; fi; out="$1"; shift ;;
  esac
done
if [ -z "$out" ]; then usage >&2; exit 2; fi
if [ -z "$repo" ]; then repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"; fi
repo="$(cd "$repo" 2>/dev/null && pwd)" || { echo "run.sh: repository $repo not found" >&2; exit 2; }
if [ ! -f "$repo/bin/slm.js" ]; then echo "run.sh: $repo has no bin/slm.js (not an slmkit checkout?)" >&2; exit 2; fi
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
  echo "run.sh: $out exists and is not empty; give a new directory" >&2
  exit 2
fi
mkdir -p "$out/work" || exit 1
out="$(cd "$out" && pwd)"
work="$out/work"

export SLM_THREADS="${SLM_THREADS:-1}"
export TZ=UTC LC_ALL=C NO_COLOR=1
steps="${SLM_TOUR_STEPS:-40}"
handbook="$repo/examples/handbook"
qa="$repo/examples/qa"

{
  echo "repo	$repo"
  echo "out	$out"
  echo "commit	$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "dirty	$(git -C "$repo" status --porcelain 2>/dev/null | grep -v '^??' | wc -l | tr -d ' ') tracked files changed"
  echo "node	$(node --version)"
  echo "threads	$SLM_THREADS"
  echo "train_steps	$steps"
  echo "started	$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$out/meta.txt"
printf 'n\tname\trc\tseconds\n' >"$out/steps.tsv"

n=0
# files NEWER_THAN: path, size, sha256 of the regular files under work/ modified after the stamp.
files_since() {
  (cd "$work" && find . -type f -newer "$1" -print | LC_ALL=C sort | while IFS= read -r f; do
    printf '%s\t%s\t%s\n' "${f#./}" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
  done)
}

# step NAME ARGS…: runs `slm ARGS…` in work/ and records it.
step() {
  local name="$1"
  shift
  n=$((n + 1))
  local base
  base="$(printf '%03d' "$n")-$name"
  printf '%q ' slm "$@" >"$out/$base.cmd"
  echo >>"$out/$base.cmd"
  local stamp="$out/.stamp"
  touch "$stamp"
  sleep 0.01
  local t0 t1 rc
  t0=$(date +%s.%N)
  (cd "$work" && node "$repo/bin/slm.js" "$@" </dev/null >"$out/$base.out" 2>"$out/$base.err")
  rc=$?
  t1=$(date +%s.%N)
  echo "$rc" >"$out/$base.rc"
  files_since "$stamp" >"$out/$base.files"
  local secs
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  printf '%s\t%s\t%s\t%s\n' "$n" "$name" "$rc" "$secs" >>"$out/steps.tsv"
  printf '%3d %-32s exit %s  %6ss\n' "$n" "$name" "$rc" "$secs" >&2
}

# 0. Help: the overview and every command's --help (the list read from the overview).
step help --help
step help-bare
step version --version
sed -n '/^Commands:/,/^$/p' "$out/001-help.out" | sed -n 's/^  \([a-z][a-z0-9-]*\( [a-z][a-z0-9-]*\)\{0,1\}\)  .*/\1/p' | sed 's/ *$//' >"$out/commands.txt"
while IFS= read -r cmd; do
  # shellcheck disable=SC2086 # the command's words are meant to split
  step "help-${cmd// /-}" $cmd --help
done <"$out/commands.txt"
step group-tokenizer tokenizer
step unknown-command nosuchcommand

# 1. Documents → dataset (with an 8192-token tokenizer).
step ingest ingest "$handbook" --out data/handbook --vocab-size 8192 --seed 0 --json
step ingest-plain ingest "$handbook" --out data/handbook-plain --vocab-size 8192 --seed 0

# Tokenizers on their own.
step tokenizer-train tokenizer train --input "$handbook" --vocab-size 4096 --out tok/ --json
step tokenizer-encode tokenizer encode --tokenizer tok/ "How do I apply for leave?"
step tokenizer-encode-json tokenizer encode --tokenizer tok/ --json "How do I apply for leave?"
step tokenizer-decode tokenizer decode --tokenizer tok/ 40 41 42 43 44 45
step tokenizer-info tokenizer info --tokenizer tok/
step tokenizer-info-json tokenizer info --tokenizer tok/ --json

# 2. Train a micro model (fixed steps instead of --time-budget 5m).
step train train --data data/handbook --preset micro --max-steps "$steps" --eval-every 20 --checkpoint-every 20 \
  --log-every 10 --seed 0 --out runs/handbook --json
step train-usage-error train --data data/handbook --preset micro --out runs/none

# Bad flag values: the messages and exit codes of the flag parsers.
step train-bad-lr train --data data/handbook --preset nano --max-steps 1 --lr abc --out runs/bad-lr
step train-empty-lr train --data data/handbook --preset nano --max-steps 1 --lr "" --out runs/empty-lr
step ingest-bad-fraction ingest "$handbook" --out data/bad --val-fraction 2
step eval-bad-batches eval --model runs/handbook/model --data data/handbook --batches 0
step generate-bad-temperature generate --model runs/handbook/model --prompt "Annual leave" --temperature=-1
step distill-bad-alpha distill --teacher runs/handbook/model --student nano --data data/handbook --max-steps 1 --alpha 2 --out runs/bad-alpha

# 3. Evaluate and generate (greedy).
step eval eval --model runs/handbook/model --data data/handbook --batches 10 --json
step eval-plain eval --model runs/handbook/model --data data/handbook --batches 10
step generate generate --model runs/handbook/model --prompt "Annual leave" --max-tokens 60 --temperature 0 --seed 0 --json
step generate-plain generate --model runs/handbook/model --prompt "Annual leave" --max-tokens 60 --temperature 0 --seed 0
step generate-sampled generate --model runs/handbook/model --prompt "Annual leave" --max-tokens 40 --temperature 0.9 --top-k 50 \
  --seed 7 --json
step generate-bad-dtype generate --model runs/handbook/model --prompt "Annual leave" --dtype q3

# 4. Index, ask (extractive), eval qa with unanswerable questions.
step index index data/handbook --out data/handbook.index --json
step ask ask --index data/handbook.index --json "How far ahead must I request leave?"
step ask-plain ask --index data/handbook.index "How far ahead must I request leave?"
step ask-bad-k ask --index data/handbook.index --k 0 "How far ahead must I request leave?"
step eval-qa eval qa --index data/handbook.index --questions "$qa/handbook.jsonl" \
  --unanswerable "$qa/handbook-unanswerable.jsonl" --out reports/handbook --json

# Early stopping keeps the best weights (a high learning rate overfits the one validation document).
step train-early-stop train --data data/handbook --preset nano --max-steps 60 --lr 1e-2 --early-stop 1 --eval-every 5 \
  --seed 0 --out runs/early-stop --json

# …a nano model pretrained on the documents, a reader from it, and ask with the reader.
step train-reader-lm train --data data/handbook --preset nano --max-steps $((steps * 2)) --early-stop 3 --eval-every 10 \
  --seed 0 --out runs/reader-lm --json
step train-reader train-reader --index data/handbook.index --init-from runs/reader-lm/model --out runs/reader \
  --max-steps 20 --synthetic 300 --val-questions 20 --eval-every 10 --seed 0 --json
step ask-reader ask --model runs/reader --index data/handbook.index --json "How far ahead must I request leave?"
step ask-reader-plain ask --model runs/reader --index data/handbook.index "How far ahead must I request leave?"
step eval-qa-reader eval qa --model runs/reader --index data/handbook.index --questions "$qa/handbook.jsonl" \
  --unanswerable "$qa/handbook-unanswerable.jsonl" --out reports/reader --json

# 5. Specialise: LoRA fine-tuning on a tiny chat file, distillation into a nano student.
cat >"$work/chat.jsonl" <<'EOF'
{"messages":[{"role":"user","content":"How far ahead must I request leave?"},{"role":"assistant","content":"Request annual leave at least two weeks ahead."}]}
{"messages":[{"role":"user","content":"Who approves my leave?"},{"role":"assistant","content":"Your manager approves leave requests."}]}
{"messages":[{"role":"system","content":"Answer from the handbook."},{"role":"user","content":"Can I carry leave over?"},{"role":"assistant","content":"Some leave can be carried over; the handbook gives the limit."}]}
{"messages":[{"role":"user","content":"How do I claim expenses?"},{"role":"assistant","content":"Submit the receipt with your claim."}]}
{"messages":[{"role":"user","content":"When is pay day?"},{"role":"assistant","content":"Pay day is stated in the pay section."}]}
{"messages":[{"role":"user","content":"Do I need approval to travel?"},{"role":"assistant","content":"Yes, travel needs approval before booking."}]}
{"messages":[{"role":"user","content":"What if I lose my laptop?"},{"role":"assistant","content":"Report it to security at once."}]}
{"messages":[{"role":"user","content":"Where do I start?"},{"role":"assistant","content":"Read the welcome page first."}]}
{"messages":[{"role":"user","content":"Can I work from home?"},{"role":"assistant","content":"The working section says when you can."}]}
{"messages":[{"role":"user","content":"Who do I ask about benefits?"},{"role":"assistant","content":"Ask the people team about benefits."}]}
{"messages":[{"role":"user","content":"How do I report a concern?"},{"role":"assistant","content":"Follow the conduct section's reporting steps."}]}
{"messages":[{"role":"user","content":"Is sick leave paid?"},{"role":"assistant","content":"The leave section explains sick pay."}]}
EOF
step finetune-lora finetune --base runs/handbook/model --data chat.jsonl --method lora --max-steps 6 --batch 4 \
  --eval-every 3 --seed 0 --out runs/sft --json
step generate-adapter generate --model runs/handbook/model --adapter runs/sft/adapter --prompt "Annual leave" \
  --max-tokens 20 --temperature 0 --seed 0 --json
step distill distill --teacher runs/handbook/model --student nano --data data/handbook --max-steps 10 --eval-every 5 \
  --eval-batches 2 --seed 0 --out runs/student --json

# 7. Take it elsewhere: GGUF (q8_0, q4_k_m), run the GGUF, export an HF directory and import it back.
step export-gguf-q8_0 export runs/handbook/model --format gguf --dtype q8_0 --out handbook.q8_0.gguf --json
step export-gguf-q4_k_m export runs/handbook/model --format gguf --dtype q4_k_m --out handbook.gguf --json
step export-gguf-plain export runs/handbook/model --format gguf --dtype q4_k_m --out handbook.plain.gguf
step generate-gguf generate --model handbook.gguf --prompt "Annual leave" --max-tokens 30 --temperature 0 --seed 0 --json
step generate-gguf-q8_0 generate --model handbook.q8_0.gguf --prompt "Annual leave" --max-tokens 30 --temperature 0 --seed 0 --json
step generate-gguf-sampled generate --model handbook.gguf --prompt "Annual leave" --max-tokens 40 --temperature 0.9 --top-k 50 \
  --seed 7 --json
step export-hf export runs/handbook/model --format hf --out export/handbook-hf --json
step import-hf import export/handbook-hf --out models/imported --json
step import-gguf import handbook.q8_0.gguf --out models/from-gguf --json
step generate-imported generate --model models/imported --prompt "Annual leave" --max-tokens 60 --temperature 0 --seed 0 --json

# The whole scratch directory at the end.
(cd "$work" && find . -type f -print | LC_ALL=C sort | while IFS= read -r f; do
  printf '%s\t%s\t%s\n' "${f#./}" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
done) >"$out/manifest.tsv"
rm -f "$out/.stamp"
echo "finished	$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$out/meta.txt"
failed=$(awk -F'\t' 'NR > 1 && $3 != 0' "$out/steps.tsv" | wc -l | tr -d ' ')
echo "tour: $n steps in $out ($failed exited non-zero; some are meant to: usage errors)" >&2
