#!/usr/bin/env bash
# Runs every test of the solution, then the format tests again at every lower SIMD level, so the
# Vector256, Vector128 and scalar paths are checked on any machine (the Vector512 paths run in the first
# pass where the CPU has AVX-512). QUANT_EXPECT_SIMD makes a test assert that each knob took effect.
set -euo pipefail
cd "$(dirname "$0")/.."

configuration=Release
dotnet build Quant.sln -c "$configuration" -nologo -v quiet

# The widest level this CPU can run: the first pass runs there.
if grep -q avx512bw /proc/cpuinfo 2>/dev/null; then native=512
elif grep -q avx2 /proc/cpuinfo 2>/dev/null; then native=256
else native=128; fi
echo "== all tests (native SIMD level: $native)"
QUANT_EXPECT_SIMD=$native dotnet test Quant.sln -c "$configuration" --no-build -nologo

# The numbers behind the checks a passing run does not show: llama.cpp's logits against the float64 reference and
# against the F32 GGUF for what quant quantize writes (tests/tools must be installed, as .ci/run does), and the
# corrupt-input counts of GGUF files and UQFF models.
echo "== GGUF and UQFF: llama.cpp logits and corrupt-input counts"
dotnet test tests/Quant.Runtime.Tests -c "$configuration" --no-build -nologo \
  --filter "FullyQualifiedName~LlamaCppTests|FullyQualifiedName~GgufCorruptionTests|FullyQualifiedName~UqffModelCorruptionTests" --logger "console;verbosity=detailed"

min() { if [ "$1" = scalar ] || [ "$2" = scalar ]; then echo scalar; elif [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi; }

# .NET 10 reads DOTNET_EnableAVX512 (DOTNET_EnableAVX512F is ignored there).
for knob in "DOTNET_EnableAVX512=0:256" "DOTNET_EnableAVX2=0:128" "DOTNET_EnableHWIntrinsic=0:scalar"; do
  setting=${knob%%:*}
  expect=$(min "$native" "${knob##*:}")
  echo "== format tests (catalogue and custom) with $setting (expecting SIMD level $expect)"
  for project in tests/Quant.Formats.Tests tests/Quant.CustomFormats.Tests; do
    env "$setting" QUANT_EXPECT_SIMD="$expect" dotnet test "$project" -c "$configuration" --no-build -nologo
  done
done
echo "== all test passes succeeded"
