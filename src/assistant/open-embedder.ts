// Opens an embedder by its recorded spec: the hashed one at once, a model one
// by loading its model directory (the index records the path; `override`
// replaces it, e.g. an index built on another machine). Shared by the CLI's
// ask, eval, index, train-reader and finetune commands. Knows nothing about
// the index itself.
import { ConfigError } from "../errors.ts";
import { loadModel } from "../formats/hf-dir.ts";
import { HashEmbedder, ModelEmbedder, type Embedder, type EmbedderSpec } from "./embed.ts";

/** The embedder an index was built with (model embedders reload their model; `override` replaces the path). */
export function embedderFor(spec: EmbedderSpec, override?: string): Embedder {
  if (spec.kind === "hash") return new HashEmbedder(spec.dim);
  const path = override ?? spec.model;
  if (!path) throw new ConfigError("the index was built with a model embedder but records no model path", { hint: "pass --embed-model MODEL_DIR" });
  return modelEmbedder(path);
}

export function modelEmbedder(path: string): Embedder {
  const m = loadModel(path);
  if (!m.tokenizer) throw new ConfigError(`${path} has no tokenizer; embedding text needs one`);
  return new ModelEmbedder(m.model, m.tokenizer, path);
}
