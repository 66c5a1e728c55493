"""Dense baselines for `quant bench gpu`, on the same device in the same run: PyTorch (cuBLAS) F.linear in bf16 and
fp16 at the bench's shape, and the device-to-device copy bandwidth as PyTorch measures it (bytes read + written).

Usage: python3 bench/gpu/torch_baseline.py [--rows 28672] [--cols 8192] [--batch 1,512] [--iterations 30]
"""
import argparse
import statistics

import torch
import torch.nn.functional as F


def timed(fn, iterations):
    for _ in range(3):
        fn(0)
    torch.cuda.synchronize()
    times = []
    for i in range(iterations):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(i)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e-3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=28672)
    parser.add_argument("--cols", type=int, default=8192)
    parser.add_argument("--batch", default="1,512")
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    m, k = args.rows, args.cols
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    src = torch.empty(1 << 28, dtype=torch.float32, device="cuda").normal_()
    dst = torch.empty_like(src)
    t = timed(lambda i: dst.copy_(src), args.iterations)
    copy = 2 * src.numel() * 4 / t
    print(f"torch copy bandwidth: {copy / 1e9:.1f} GB/s (1 GiB, bytes read + written)")
    del src, dst
    print("dtype  batch  time_us     weight_GB/s  %copy   GFLOP/s")
    for dtype in (torch.bfloat16, torch.float16):
        weights = [torch.randn(m, k, device="cuda", dtype=dtype) for _ in range(3)]
        for batch in (int(b) for b in args.batch.split(",")):
            x = torch.randn(batch, k, device="cuda", dtype=dtype)
            t = timed(lambda i: F.linear(x, weights[i % 3]), args.iterations)
            bandwidth = m * k * 2 / t
            print(f"{str(dtype).split('.')[-1]:6} {batch:5}  {t * 1e6:10.1f} {bandwidth / 1e9:14.1f} {100 * bandwidth / copy:6.1f} {2 * m * k * batch / t / 1e9:10.1f}")
        del weights


if __name__ == "__main__":
    main()
