"""PyTorch timings for the shapes of benches/attention.rs (run by `cargo xtask bench-torch`).

Prints one JSON object: {"torch_version": ..., "cases": {id: median ms}}, with the same
ids as the criterion benchmarks. CPU, float32, 2 threads, eval mode, no autograd.
"""

import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
torch.manual_seed(0)
HEADS, HEAD_DIM, D_MODEL = 8, 64, 512


def median_ms(fn, min_time=2.0, min_runs=5):
    fn()  # warm up
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_time:
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


cases = {}
with torch.inference_mode():
    for seq in (512, 1024, 2048):
        q, k, v = (torch.rand(1, HEADS, seq, HEAD_DIM) * 2 - 1 for _ in range(3))
        for causal in (False, True):
            ms = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
            mask = "causal" if causal else "full"
            for kernel in ("plain", "memory_efficient"):
                cases[f"sdpa/{kernel}/{mask}/{seq}"] = ms
    for batch in (1, 8):
        mha = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True).eval()
        x = torch.rand(batch, 512, D_MODEL) * 2 - 1
        # Default call: returns the head-averaged weights, like MultiHeadAttention::forward.
        cases[f"multi_head/batch/{batch}"] = median_ms(lambda: mha(x, x, x))
    layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, 2048, dropout=0.0, batch_first=True).eval()
    x = torch.rand(1, 512, D_MODEL) * 2 - 1
    cases["encoder_layer/seq/512"] = median_ms(lambda: layer(x))

print(json.dumps({"torch_version": torch.__version__.split("+")[0], "cases": cases}))
