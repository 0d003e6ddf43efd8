# Chapter 6 in PyTorch: multi-head attention by hand (split_heads), then nn.MultiheadAttention.
import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        assert d_model % num_heads == 0
        self.num_heads, self.d_k = num_heads, d_model // num_heads
        self.W_q = nn.Linear(d_model, d_model)  # all heads' projections in one matrix
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)  # mixes the concatenated heads

    def split_heads(self, x):                   # (batch, seq, d_model)
        batch, seq, _ = x.shape
        x = x.view(batch, seq, self.num_heads, self.d_k)  # head h: columns h·d_k .. (h+1)·d_k
        return x.transpose(1, 2)                # (batch, heads, seq, d_k)

    def forward(self, query, key, value, mask=None):  # mask: True = may NOT attend
        q = self.split_heads(self.W_q(query))   # (batch, heads, tgt, d_k)
        k = self.split_heads(self.W_k(key))     # (batch, heads, src, d_k)
        v = self.split_heads(self.W_v(value))
        scores = q @ k.transpose(-2, -1) / self.d_k ** 0.5  # (batch, heads, tgt, src)
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))
        weights = F.softmax(scores, dim=-1)     # one distribution per head and query
        out = weights @ v                       # (batch, heads, tgt, d_k)
        batch, _, tgt, _ = out.shape
        out = out.transpose(1, 2).reshape(batch, tgt, -1)  # merge heads: (batch, tgt, d_model)
        return self.W_o(out), weights


if __name__ == "__main__":
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8)                        # (batch, seq, d_model)
    out, weights = MultiHeadAttention(d_model=8, num_heads=2)(x, x, x)
    print(out.shape, weights.shape)                 # (2, 5, 8) and (2, 2, 5, 5)

    # The built-in layer: W_q, W_k, W_v stacked in in_proj_weight (3·d_model, d_model).
    mha = nn.MultiheadAttention(embed_dim=8, num_heads=2, batch_first=True)
    out, avg = mha(x, x, x)                         # avg: (batch, seq, seq), the MEAN over heads
    out, per_head = mha(x, x, x, average_attn_weights=False)  # (batch, heads, seq, seq)
    print(avg.shape, per_head.shape)
