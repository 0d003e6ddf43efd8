# Chapter 8 in PyTorch: one fused call does scores, mask, softmax and the weighted sum.
import torch
import torch.nn.functional as F

torch.manual_seed(0)
batch, heads, seq, d_k = 2, 2, 6, 4
q = torch.randn(batch, heads, seq, d_k)
k = torch.randn(batch, heads, seq, d_k)
v = torch.randn(batch, heads, seq, d_k)

# softmax(q kᵀ / √d_k + causal mask) v, without ever storing the (seq, seq) weights when a
# FlashAttention or memory-efficient kernel applies (it picks the kernel itself).
out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (batch, heads, seq, d_k)

# The same by hand, materialising the (batch, heads, seq, seq) weights:
scores = q @ k.transpose(-2, -1) / d_k ** 0.5
future = torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=1)
weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
assert torch.allclose(out, weights @ v, atol=1e-6)
