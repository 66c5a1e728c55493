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

# The tensor-parallel demo, in process and across processes, so its lines are in the CI log (the tests assert them).
echo "== quant demo --tp 4, and mpirun -np 2 quant demo --tp 2 --comm mpi"
quant="tools/Quant.Cli/bin/$configuration/net10.0/quant.dll"
dotnet "$quant" demo --tp 4
if command -v mpirun >/dev/null 2>&1; then
  mpi_env="OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TERM=dumb"
  command -v ssh >/dev/null 2>&1 || mpi_env="$mpi_env OMPI_MCA_plm=isolated"
  env $mpi_env mpirun --oversubscribe -np 2 dotnet "$quant" demo --tp 2 --comm mpi
fi

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
# The NuGet packages as a consumer meets them: pack, build and run samples/CustomFormat from the packages alone,
# compare the sources the packed generator wrote there, install the quant tool.
bash tests/sample.sh --no-build
echo "== all test passes succeeded"
