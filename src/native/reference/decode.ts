// Reference decode step: the kernel calls of decodeLayersWith (ops/decode.ts) made with the
// reference kernels, one by one. The plan is the spec with its activation buffer.
import { decodeBufferSize, decodeLayersWith, type DecodeKernels, type DecodeSpec, type DecodeStepKernels } from "../ops/decode.ts";
import { activationReference } from "./activation.ts";
import { gemmReference } from "./gemm.ts";
import { attentionReference } from "./attention.ts";
import { normReference } from "./norm.ts";
import { qgemmReference } from "./qgemm.ts";
import { ropeReference } from "./rope.ts";

const kernels: DecodeStepKernels = { ...gemmReference, ...activationReference, ...attentionReference, ...normReference, ...qgemmReference, ...ropeReference };

interface ReferencePlan {
  spec: DecodeSpec;
  buf: Float32Array;
}

export const decodeReference: DecodeKernels = {
  decodePlan(spec) {
    return { spec, buf: new Float32Array(decodeBufferSize(spec)) } satisfies ReferencePlan;
  },
  decodeLayers(plan, x, b, tq, starts, cos, sin) {
    const p = plan as ReferencePlan;
    decodeLayersWith(kernels, p.spec, p.buf, x, b, tq, starts, cos, sin);
  },
};
