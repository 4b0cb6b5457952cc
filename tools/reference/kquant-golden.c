// Writes llama.cpp's reference K-quant bytes for float32 values read from
// stdin, to make test/fixtures/kquant-golden.json. Not part of the package or
// of any test run. Build against a libggml-base.so (e.g. node-llama-cpp's):
//   gcc -O1 kquant-golden.c -o kquant-golden -L$DIR -l:libggml-base.so -Wl,-rpath,$DIR
// Usage: kquant-golden TYPE_ID N < values.f32 > blocks.bin   (TYPE_ID 12, 13, 14)
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
void quantize_row_q4_K_ref(const float*, void*, int64_t);
void quantize_row_q5_K_ref(const float*, void*, int64_t);
void quantize_row_q6_K_ref(const float*, void*, int64_t);
int main(int argc, char** argv) {
  if (argc < 3) return 2;
  int t = atoi(argv[1]);
  int64_t n = atoll(argv[2]);
  float* x = malloc(n * 4);
  if (fread(x, 4, n, stdin) != (size_t)n) return 1;
  int bb = t == 12 ? 144 : t == 13 ? 176 : 210;
  uint8_t* y = calloc(n / 256, bb);
  if (t == 12) quantize_row_q4_K_ref(x, y, n);
  else if (t == 13) quantize_row_q5_K_ref(x, y, n);
  else quantize_row_q6_K_ref(x, y, n);
  fwrite(y, bb, n / 256, stdout);
  return 0;
}
