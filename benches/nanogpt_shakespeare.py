"""nanoGPT's CPU recipe for character-level Shakespeare, in PyTorch: the reference that
`cargo run --release --example train_gpt` is compared with (`cargo xtask bench-gpt` runs both).

The model is nanoGPT's `model.py` (Karpathy, MIT licence) reduced to what the recipe uses:
bias=True (as the crate's GPT), dropout 0, F.scaled_dot_product_attention(is_causal=True),
nn.GELU(), weight tying, nanoGPT's init. The loop is `train.py`'s: random windows
(`get_batch`), AdamW with weight decay on >= 2-D tensors only, gradient clipping at 1.0, cosine
learning rate with warm-up, `estimate_loss` every eval_interval steps. Same text, vocabulary,
90/10 split and seed number as the Rust run; at the end, the same deterministic loss over the
whole validation split (consecutive windows of block_size, 64 at a time) as the crate's
`gpt::train::split_loss`.

    /tmp/torchvenv/bin/python benches/nanogpt_shakespeare.py [--iters N] [--threads T]

The last line printed is a JSON record (losses, training seconds, tokens/s).
"""

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn as nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
TEXT = ROOT / "data" / "shakespeare" / "tragedies.txt"

# train.py defaults overridden by config/train_shakespeare_char.py and the README's CPU flags
N_LAYER, N_HEAD, N_EMBD, BLOCK_SIZE, BATCH_SIZE = 4, 4, 128, 64, 12
LEARNING_RATE, MIN_LR, WARMUP_ITERS = 1e-3, 1e-4, 100
WEIGHT_DECAY, BETA1, BETA2, GRAD_CLIP = 1e-1, 0.9, 0.99, 1.0
EVAL_INTERVAL, EVAL_ITERS, SEED = 250, 20, 1337


# ANCHOR: model
class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(N_EMBD, 3 * N_EMBD)
        self.c_proj = nn.Linear(N_EMBD, N_EMBD)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(N_EMBD, dim=2)
        k = k.view(B, T, N_HEAD, C // N_HEAD).transpose(1, 2)
        q = q.view(B, T, N_HEAD, C // N_HEAD).transpose(1, 2)
        v = v.view(B, T, N_HEAD, C // N_HEAD).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_fc = nn.Linear(N_EMBD, 4 * N_EMBD)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * N_EMBD, N_EMBD)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(N_EMBD)
        self.attn = CausalSelfAttention()
        self.ln_2 = nn.LayerNorm(N_EMBD)
        self.mlp = MLP()

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, N_EMBD),
            wpe=nn.Embedding(BLOCK_SIZE, N_EMBD),
            h=nn.ModuleList([Block() for _ in range(N_LAYER)]),
            ln_f=nn.LayerNorm(N_EMBD),
        ))
        self.lm_head = nn.Linear(N_EMBD, vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * N_LAYER))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        pos = torch.arange(0, idx.size(1), dtype=torch.long)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


# ANCHOR_END: model


def get_lr(it, lr_decay_iters):
    if it < WARMUP_ITERS:
        return LEARNING_RATE * (it + 1) / (WARMUP_ITERS + 1)
    if it > lr_decay_iters:
        return MIN_LR
    ratio = (it - WARMUP_ITERS) / (lr_decay_iters - WARMUP_ITERS)
    return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (LEARNING_RATE - MIN_LR)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    max_iters = args.iters
    lr_decay_iters = max(max_iters, WARMUP_ITERS + 1)
    torch.manual_seed(SEED)

    text = TEXT.read_text(encoding="ascii")
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(len(data) * 0.9)
    splits = {"train": data[:n], "val": data[n:]}

    def get_batch(split):
        d = splits[split]
        ix = torch.randint(len(d) - BLOCK_SIZE, (BATCH_SIZE,))
        x = torch.stack([d[i:i + BLOCK_SIZE] for i in ix])
        y = torch.stack([d[i + 1:i + 1 + BLOCK_SIZE] for i in ix])
        return x, y

    model = GPT(len(chars))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=LEARNING_RATE, betas=(BETA1, BETA2),
    )

    @torch.no_grad()
    def estimate_loss():
        model.eval()
        out = {}
        for split in ["train", "val"]:
            losses = torch.zeros(EVAL_ITERS)
            for k in range(EVAL_ITERS):
                _, loss = model(*get_batch(split))
                losses[k] = loss.item()
            out[split] = losses.mean().item()
        model.train()
        return out

    @torch.no_grad()
    def split_loss(split):
        d = splits[split]
        windows = (len(d) - 1) // BLOCK_SIZE
        total, count = 0.0, 0
        for first in range(0, windows, 64):
            rows = min(64, windows - first)
            x = torch.stack([d[(first + b) * BLOCK_SIZE:(first + b + 1) * BLOCK_SIZE] for b in range(rows)])
            y = torch.stack([d[(first + b) * BLOCK_SIZE + 1:(first + b + 1) * BLOCK_SIZE + 1] for b in range(rows)])
            _, loss = model(x, y)
            total += loss.item() * rows
            count += rows
        return total / count

    n_params = sum(p.numel() for p in model.parameters())
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads: GPT {n_params} parameters")
    curve, train_seconds, last = [], 0.0, time.perf_counter()
    for it in range(max_iters + 1):
        if it % EVAL_INTERVAL == 0 or it == max_iters:
            t = time.perf_counter()
            losses = estimate_loss()
            print(f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}", flush=True)
            curve.append({"step": it, "train": losses["train"], "val": losses["val"]})
            last += time.perf_counter() - t
        if it == max_iters:
            break
        t = time.perf_counter()
        lr = get_lr(it, lr_decay_iters)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch("train")
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        train_seconds += time.perf_counter() - t
        if (it + 1) % 10 == 0:
            per_second = 10 * BATCH_SIZE * BLOCK_SIZE / (time.perf_counter() - last)
            last = time.perf_counter()
            print(f"iter {it + 1:>4}: loss {loss.item():.4f}, lr {lr:.2e}, |grad| {norm.item():.3f}, "
                  f"{per_second:.0f} tokens/s", flush=True)
    val_full = split_loss("val")
    tokens_per_second = max_iters * BATCH_SIZE * BLOCK_SIZE / train_seconds
    print(f"done: {max_iters} steps in {train_seconds:.1f} s of training, {tokens_per_second:.0f} tokens/s; "
          f"validation loss over the whole split: {val_full:.4f}")
    print(json.dumps({
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "max_iters": max_iters,
        "curve": curve,
        "val_loss_full_split": val_full,
        "train_seconds": train_seconds,
        "tokens_per_second": tokens_per_second,
        "parameters": n_params,
    }))


if __name__ == "__main__":
    main()
