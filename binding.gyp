# The native addon: hot loops only. Kernels are compiled three times, once per
# instruction set (scalar baseline, AVX2+FMA, AVX-512), into separate static
# libraries; the addon picks one at run time from CPUID and SLM_SIMD. So the
# build never depends on what the build machine's CPU supports, and a machine
# without AVX-512 builds and runs the same sources.
{
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fno-trapping-math", "-fPIC", "-Wall", "-Wno-unused-function"],
    "cflags!": ["-fno-exceptions"],
    "include_dirs": ["native/src"],
  },
  "targets": [
    {
      "target_name": "slm_scalar",
      "type": "static_library",
      "defines": ["SLM_ISA=scalar", "SLM_ISA_SCALAR=1"],
      "sources": ["<!@(node -p \"require('./native/sources.cjs').isa.join(' ')\")"]
    },
    {
      "target_name": "slm_avx2",
      "type": "static_library",
      "defines": ["SLM_ISA=avx2", "SLM_ISA_AVX2=1"],
      "cflags_cc": ["-mavx2", "-mfma", "-mf16c"],
      "sources": ["<!@(node -p \"require('./native/sources.cjs').isa.join(' ')\")"]
    },
    {
      "target_name": "slm_avx512",
      "type": "static_library",
      "defines": ["SLM_ISA=avx512", "SLM_ISA_AVX512=1"],
      "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma", "-mf16c", "-Wno-maybe-uninitialized"],
      "sources": ["<!@(node -p \"require('./native/sources.cjs').isa.join(' ')\")"]
    },
    {
      "target_name": "slm",
      "dependencies": ["slm_scalar", "slm_avx2", "slm_avx512", "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "sources": ["<!@(node -p \"require('./native/sources.cjs').common.join(' ')\")"],
      "libraries": ["-lpthread"]
    }
  ]
}
