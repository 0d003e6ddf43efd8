"""PyTorch on the same GPU (and CPU) for every case `examples/gpu_bench.rs` measured.

    python3 benches/gpu_torch.py crate.json gpu_fast.json COMMIT

Reads the crate's times, times the same shapes in PyTorch (float32, TF32 off), and writes
both side by side: the file chapter 8's GPU table is generated from (`benches/gpu_fast.json`).
"resident" cases time CUDA tensors (the kernel alone); "with copies" cases start from and end
with CPU tensors, as `examples/gpu_bench.rs` does. Each time is the mean of enough calls to
take about half a second, after three warm-up calls.
"""

import datetime
import json
import sys
import time

import torch
import torch.nn.functional as F

HEADS, HEAD_DIM, D_MODEL, D_FF = 8, 64, 512, 2048
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def time_ms(f, cuda=True):
    sync = torch.cuda.synchronize if cuda and torch.cuda.is_available() else (lambda: None)
    for _ in range(3):
        f()
    sync()
    start = time.perf_counter()
    f()
    sync()
    once = time.perf_counter() - start
    calls = min(200, max(3, int(0.5 / max(once, 1e-9))))
    start = time.perf_counter()
    for _ in range(calls):
        f()
    sync()
    return (time.perf_counter() - start) * 1e3 / calls


def rand(*shape):
    return torch.rand(*shape) * 2 - 1  # CPU, uniform in [-1, 1)


def measure(case, n):
    """PyTorch's milliseconds per call for the crate's `case` at size `n`, or None."""
    # "cuda" stands for the GPU; without one (a dry run of this script) the CPU stands in.
    cuda = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with torch.inference_mode():
        if case == "call 8x8 (with copies)":
            a = rand(8, 8)
            return time_ms(lambda: (a.to(cuda) @ a.to(cuda)).cpu())
        if case.startswith("matmul"):
            a, b = rand(n, n), rand(n, n)
            if "resident" in case:
                ga, gb = a.to(cuda), b.to(cuda)
                return time_ms(lambda: ga @ gb)
            return time_ms(lambda: (a.to(cuda) @ b.to(cuda)).cpu())
        if case.startswith("sdpa"):
            causal = "causal" in case
            q, k, v = (rand(1, HEADS, n, HEAD_DIM) for _ in range(3))
            if "resident" in case:
                gq, gk, gv = q.to(cuda), k.to(cuda), v.to(cuda)
                return time_ms(lambda: F.scaled_dot_product_attention(gq, gk, gv, is_causal=causal))
            return time_ms(
                lambda: F.scaled_dot_product_attention(
                    q.to(cuda), k.to(cuda), v.to(cuda), is_causal=causal
                ).cpu()
            )
        if case.startswith("multi-head attention"):
            mha = torch.nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True).eval()
            x = rand(n, 512, D_MODEL)
            if "gpu" in case:
                mha = mha.to(cuda)
                return time_ms(
                    lambda: mha(*(x.to(cuda),) * 3, need_weights=False)[0].cpu()
                )
            return time_ms(lambda: mha(x, x, x, need_weights=False)[0], cuda=False)
        if case.startswith("encoder layer"):
            layer = torch.nn.TransformerEncoderLayer(
                D_MODEL, HEADS, D_FF, dropout=0.0, batch_first=True
            ).eval()
            x = rand(1, n, D_MODEL)
            if "gpu" in case:
                layer = layer.to(cuda)
                return time_ms(lambda: layer(x.to(cuda)).cpu())
            return time_ms(lambda: layer(x), cuda=False)
    return None


def main():
    crate_path, out_path, commit = sys.argv[1], sys.argv[2], sys.argv[3]
    crate = json.load(open(crate_path))
    torch.manual_seed(0)
    rows = []
    for row in crate["rows"]:
        ms = measure(row["case"], row["n"])
        flops = row["flops"]
        row["torch_ms"] = round(ms, 4)
        row["torch_gflops"] = round(flops / (ms * 1e6), 1)
        print(json.dumps(row), flush=True)
        rows.append(row)
    result = {
        "what": "examples/gpu_bench.rs and benches/gpu_torch.py in one run on one machine: "
        "the gpu feature's kernels and the CPU build against PyTorch, float32, TF32 off",
        "adapter": crate["adapter"],
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else "none (dry run)",
        "date": datetime.date.today().isoformat(),
        "crate_commit": commit,
        "torch_version": torch.__version__,
        "cpu_threads": crate["cpu_threads"],
        "torch_cpu_threads": torch.get_num_threads(),
        "rows": rows,
    }
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
