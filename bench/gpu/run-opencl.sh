#!/usr/bin/env bash
# The device call behind OPENCL.md: the bench (GEMV + GEMM 512 for the four formats and dense f16, GEMV for every other
# format), the PyTorch baseline, the OpenCL suite on NVIDIA and the CPU format suite at Vector512. It runs from a folder
# .gpu-opencl/ in the repository root (ignored, carried) holding this script, torch_baseline.py and quant-gpu.tar.xz, the
# self-contained publish of tools/Quant.TestRunner (see OPENCL.md).
set -o pipefail
cd "$(dirname "$0")" && rm -rf quant && tar xJf quant-gpu.tar.xz && cd ..  # the published Quant.TestRunner, see OPENCL.md
mkdir -p /tmp/icd && echo /usr/local/nvidia/lib64/libnvidia-opencl.so.1 > /tmp/icd/nvidia.icd
export OCL_ICD_VENDORS=/tmp/icd
R=.gpu-opencl/quant/Quant.TestRunner
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "== bench main: quant bench gpu -f q4_0,q8_0,mxfp4,q4_K,f16 --rows 28672 --cols 8192 --batch 1,512 -i 30"
QUANT_OPENCL_OPTIONS=-cl-nv-verbose timeout 150 $R quant bench gpu -f q4_0,q8_0,mxfp4,q4_K,f16 --rows 28672 --cols 8192 --batch 1,512 -i 30 --verbose > $OUT/bench-main.txt 2>&1
grep -v "^#\|^extensions" $OUT/bench-main.txt
echo "== torch"
PYTHONUNBUFFERED=1 timeout 60 python3 .gpu-opencl/torch_baseline.py 2>&1 | tee $OUT/torch.txt
echo "== OpenCL tests on NVIDIA"
timeout 240 $R test Quant.OpenCl.Tests > $OUT/opencl-tests.txt 2>&1; echo "exit $?"; grep -v "^\s*$" $OUT/opencl-tests.txt | grep -v "error generated" | tail -8
echo "== CPU format tests (QUANT_EXPECT_SIMD=512)"
QUANT_EXPECT_SIMD=512 timeout 100 $R test Quant.Formats.Tests > $OUT/formats-tests.txt 2>&1; echo "exit $?"; tail -4 $OUT/formats-tests.txt
echo "== bench other formats (GEMV)"
timeout 150 $R quant bench gpu -f afq2_g128,afq2_g32,afq2_g64,afq3_g128,afq3_g32,afq3_g64,afq4_g128,afq4_g32,afq4_g64,afq6_g128,afq6_g32,afq6_g64,afq8_g128,afq8_g32,afq8_g64,bf16,f8q8,fp4,fp8_block,fp8_e4m3,iq4_nl,iq4_xs,mxfp4_ggml,mxfp6_e2m3,mxfp6_e3m2,mxfp8_e4m3,mxfp8_e5m2,nf4,nvfp4,q2_K,q3_K,q4_1,q5_0,q5_1,q5_K,q6_K,q8_1,q8_K --batch 1 -i 20 --copy-mb 512 2>&1 | tee $OUT/bench-all.txt | grep -v "^shape\|^device"
