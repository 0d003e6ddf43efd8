"""PyTorch timings for the shapes of benches/attention.rs (run by `cargo xtask bench-torch`).

Prints one JSON object: {"torch_version": ..., "cases": {id: median ms}}, with the same
ids as the criterion benchmarks. CPU, float32, 2 threads; eval mode without autograd, except
the training steps (`train_step/...`: train mode, autograd, AdamW). `sentences/minilm/64`
needs `sentence-transformers` in the venv (`pip install torch numpy sentence-transformers`)
and the model that `cargo xtask setup` installs.
"""

import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
torch.manual_seed(0)
HEADS, HEAD_DIM, D_MODEL = 8, 64, 512
PAD, BOS, EOS = 0, 2, 3  # attention::embedding's special ids


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


class Seq2Seq(nn.Module):
    """attention::transformer::Seq2SeqTransformer: token embeddings × √d_model + sinusoidal
    positions, nn.Transformer (post-LN, ReLU, final norms), a generator Linear."""

    def __init__(self, vocab, d_model, heads, layers, d_ff, max_len):
        super().__init__()
        self.d_model = d_model
        self.src_embedding = nn.Embedding(vocab, d_model)
        self.tgt_embedding = nn.Embedding(vocab, d_model)
        self.transformer = nn.Transformer(
            d_model, heads, layers, layers, d_ff, dropout=0.0, batch_first=True
        )
        self.generator = nn.Linear(d_model, vocab)
        pos = torch.arange(max_len).unsqueeze(1)
        div = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        self.register_buffer("pe", pe)

    def embed(self, table, ids):
        return table(ids) * math.sqrt(self.d_model) + self.pe[: ids.shape[1]]

    def forward(self, src, tgt):
        src_pad, tgt_pad = src == PAD, tgt == PAD  # True: a padding key, not attended to
        n = tgt.shape[1]
        causal = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
        out = self.transformer(
            self.embed(self.src_embedding, src),
            self.embed(self.tgt_embedding, tgt),
            tgt_mask=causal,
            src_key_padding_mask=src_pad,
            tgt_key_padding_mask=tgt_pad,
            memory_key_padding_mask=src_pad,
            tgt_is_causal=True,
        )
        return self.generator(out)


def copy_batch(n=64, symbols=10, lengths=(3, 10)):
    """SymbolTask::Copy.examples(n, 0) made into a Batch: `<bos> s… <eos>` on both sides,
    padded to the longest possible example (the crate's batch has one: src (64, 12), decoder
    input and labels (64, 11)). Other random symbols, the same shapes."""
    g = torch.Generator().manual_seed(0)
    src = torch.full((n, lengths[1] + 2), PAD)
    for i in range(n):
        k = int(torch.randint(lengths[0], lengths[1] + 1, (1,), generator=g))
        k = lengths[1] if i == 0 else k  # one of the longest
        s = torch.randint(4, 4 + symbols, (k,), generator=g)
        src[i, : k + 2] = torch.cat([torch.tensor([BOS]), s, torch.tensor([EOS])])
    tgt = src.clone()  # copy: output = input
    return src, tgt[:, :-1], tgt[:, 1:]


def copy_train_step():
    """Trainer::step on the copy task: SymbolTask::Copy's model (d_model 32, 4 heads, d_ff 64,
    2 + 2 layers, vocabulary 14) and recipe (dropout 0, label smoothing 0.1, clipping to 1,
    AdamW betas (0.9, 0.98), eps 1e-9, weight decay 0.01)."""
    model = Seq2Seq(14, 32, 4, 2, 64, max_len=12).train()
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=0.1)
    opt = torch.optim.AdamW(
        model.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-9, weight_decay=0.01
    )
    src, tgt_in, tgt_out = copy_batch()

    def step():
        opt.zero_grad()
        logits = model(src, tgt_in)  # (64, 11, 14)
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step


def encoder_layer_train_step():
    """One encoder layer's forward, backward and AdamW step (PyTorch's defaults), loss =
    Σ out ⊙ r: ∂L/∂out = r. x requires its gradient: EncoderLayer::backward returns ∂L/∂x."""
    layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, 2048, dropout=0.0, batch_first=True)
    layer.train()
    opt = torch.optim.AdamW(layer.parameters(), lr=1e-3)
    x = (torch.rand(1, 512, D_MODEL) * 2 - 1).requires_grad_()
    r = torch.rand(1, 512, D_MODEL) * 2 - 1

    def step():
        opt.zero_grad()
        x.grad = None
        (layer(x) * r).sum().backward()
        opt.step()

    return step


def sentence_embeddings():
    """attention::bert::SentenceEncoder::encode on 64 of the course's sentences (chapter 11):
    sentence-transformers' all-MiniLM-L6-v2 from the folder `cargo xtask setup` fills,
    `encode(texts, batch_size=64)` (tokenizer, BERT, mean pooling, normalisation)."""
    from pathlib import Path

    from sentence_transformers import SentenceTransformer

    root = Path(__file__).resolve().parents[1]
    lines = (root / "data/sentences/sentences.tsv").read_text(encoding="utf-8").splitlines()
    course = [line.split("\t", 1)[1] for line in lines[1:] if line.strip()]
    texts = [course[i % len(course)] for i in range(64)]
    model = SentenceTransformer(str(root / "models/all-MiniLM-L6-v2"), device="cpu").eval()
    return lambda: model.encode(texts, batch_size=64)


with torch.inference_mode():
    cases["sentences/minilm/64"] = median_ms(sentence_embeddings())
cases["train_step/copy"] = median_ms(copy_train_step())
cases["train_step/encoder_layer/512"] = median_ms(encoder_layer_train_step())

print(json.dumps({"torch_version": torch.__version__.split("+")[0], "cases": cases}))
