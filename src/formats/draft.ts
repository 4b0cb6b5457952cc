// Loading a draft model for speculative decoding (`--draft MODEL` of `slm
// serve` and `slm generate`): the draft proposes token ids that the target
// verifies, so both must give every id the same meaning. Checked here, where
// tokenizers are known (infer/ works on ids only and checks sizes alone).
import { ConfigError } from "../errors.ts";
import { loadModel, type LoadedModel, type LoadOptions } from "./hf-dir.ts";

const HINT = "a draft must use the target's tokenizer: e.g. a student made by `slm distill` from the target";

/** Throws ConfigError unless the draft's vocabulary is the target's: same size, and the same token at every id when both have tokenizers. */
function checkDraftVocabulary(target: LoadedModel, draft: LoadedModel): void {
  const t = target.config.vocabSize,
    d = draft.config.vocabSize;
  if (t !== d)
    throw new ConfigError(`the draft model ${draft.source.path} has a vocabulary of ${d} tokens, the target ${target.source.path} ${t}`, { hint: HINT });
  const a = target.tokenizer,
    b = draft.tokenizer;
  if (!a || !b) return;
  if (a.vocabSize !== b.vocabSize) throw new ConfigError(`the draft's tokenizer has ${b.vocabSize} tokens, the target's ${a.vocabSize}`, { hint: HINT });
  for (let id = 0; id < a.vocabSize; id++) {
    const x = a.idToToken(id),
      y = b.idToToken(id);
    if (x !== y)
      throw new ConfigError(
        `the draft's tokenizer differs from the target's: token ${id} is ${JSON.stringify(y)} in the draft (${draft.source.path}), ${JSON.stringify(x)} in the target`,
        { hint: HINT },
      );
  }
}

/** Loads the draft model at `path` (held as `load` says) and checks it against the target. */
export function loadDraftModel(path: string, target: LoadedModel, load: LoadOptions = { keepQuantized: true }): LoadedModel {
  const draft = loadModel(path, load);
  checkDraftVocabulary(target, draft);
  return draft;
}
