// A reader model directory (src/models/reader.ts):
//   reader.json          {"format": "slmkit-reader", "version": 1, ...training facts}
//   backbone/            the Llama decoder as an ordinary Hugging Face model directory
//   reader.safetensors   features.weight (rows, d), score.weight (1, d), score.bias (1)
//   tokenizer.json       (also inside backbone/)
// Written under a temporary name and renamed into place; loading checks every
// tensor's shape against the backbone's width.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { FormatError } from "../errors.ts";
import { LlamaModel } from "../models/index.ts";
import { READER_FEATURE_ROWS, ReaderModel } from "../models/reader.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import { writeDirAtomic, writeFileAtomicSync } from "../util/atomic.ts";
import { loadModelDir, saveModelDir } from "./hf-dir.ts";
import { SafetensorsFile, writeSafetensors } from "./safetensors.ts";

const READER_FORMAT = "slmkit-reader";
// Version 2 (answer-type feature rows, lexical-overlap weight, last-token pooling) replaced
// version 1; a version 1 reader must be trained again.
const READER_VERSION = 2;

/** True when `dir` holds a reader (reader.json), not a plain language model. */
export function isReaderDir(dir: string): boolean {
  return existsSync(join(dir, "reader.json"));
}

export function saveReaderDir(dir: string, model: ReaderModel, tokenizer: Tokenizer, info: Record<string, unknown> = {}): void {
  writeDirAtomic(dir, (tmp) => {
    saveModelDir(join(tmp, "backbone"), model.backbone, { tokenizer });
    const p = new Map(model.namedParameters());
    const t = (name: string) => {
      const x = p.get(name)!;
      return { name, shape: [...x.shape], data: x.data };
    };
    writeSafetensors(join(tmp, "reader.safetensors"), model.headParameterNames().map(t), { format: READER_FORMAT });
    tokenizer.save(tmp);
    writeFileAtomicSync(
      join(tmp, "reader.json"),
      `${JSON.stringify({ format: READER_FORMAT, version: READER_VERSION, featureRows: READER_FEATURE_ROWS, ...info }, null, 2)}\n`,
    );
  });
}

export function loadReaderDir(dir: string): { model: ReaderModel; tokenizer: Tokenizer; info: Record<string, unknown> } {
  let info: Record<string, unknown>;
  try {
    info = JSON.parse(readFileSync(join(dir, "reader.json"), "utf8"));
  } catch (e) {
    throw new FormatError(`${join(dir, "reader.json")}: cannot read a reader description (${(e as Error).message})`);
  }
  if (info.format !== READER_FORMAT) throw new FormatError(`${dir}/reader.json: format is ${JSON.stringify(info.format)}, expected "${READER_FORMAT}"`);
  if (info.version !== READER_VERSION)
    throw new FormatError(
      `${dir}/reader.json: version ${JSON.stringify(info.version)} is not supported (this slmkit reads version ${READER_VERSION}; train the reader again with \`slm train-reader\`)`,
    );
  if (info.featureRows !== READER_FEATURE_ROWS)
    throw new FormatError(`${dir}/reader.json: ${JSON.stringify(info.featureRows)} feature rows; this slmkit's reader has ${READER_FEATURE_ROWS}`);
  const lm = loadModelDir(join(dir, "backbone"));
  if (!(lm.model instanceof LlamaModel)) throw new FormatError(`${dir}/backbone: a reader's backbone must be a Llama-family model`);
  if (!lm.tokenizer) throw new FormatError(`${dir}/backbone: no tokenizer.json`);
  const model = new ReaderModel(lm.config, undefined, lm.model);
  const f = SafetensorsFile.open(join(dir, "reader.safetensors"));
  try {
    const params = new Map(model.namedParameters());
    for (const name of model.headParameterNames()) {
      const p = params.get(name)!;
      if (!f.names.includes(name)) throw new FormatError(`${dir}/reader.safetensors: tensor ${name} is missing`);
      const ti = f.info(name);
      if (ti.dtype !== "F32" || ti.shape.length !== p.shape.length || ti.shape.some((d, i) => d !== p.shape[i]))
        throw new FormatError(`${dir}/reader.safetensors: ${name} is ${ti.dtype} [${ti.shape.join(", ")}], expected F32 [${p.shape.join(", ")}]`);
      const bytes = f.readBytes(name);
      p.data.set(new Float32Array(bytes.slice().buffer, 0, p.size));
    }
  } finally {
    f.close();
  }
  return { model: model.eval(), tokenizer: lm.tokenizer, info };
}
