# Chapter 4 in PyTorch: masked (causal) self-attention, in the style of StatQuest's course.
import torch
import torch.nn.functional as F
from torch import nn


class MaskedSelfAttention(nn.Module):
    def __init__(self, d_model=2, d_k=2):
        super().__init__()
        self.W_q = nn.Linear(d_model, d_k, bias=False)
        self.W_k = nn.Linear(d_model, d_k, bias=False)
        self.W_v = nn.Linear(d_model, d_k, bias=False)

    def forward(self, x, mask=None):                 # x: (seq, d_model); mask: (seq, seq) bool
        q, k, v = self.W_q(x), self.W_k(x), self.W_v(x)
        scores = q @ k.T / k.size(-1) ** 0.5         # (seq, seq)
        if mask is not None:
            # True = may NOT attend. A large finite value instead of -inf: a row where every
            # key is masked then gets equal weights 1/seq (softmax of equal numbers), where
            # -inf would give 0/0 = NaN. (The crate returns a zero row there instead.)
            scores = scores.masked_fill(mask, -1e9)
        weights = F.softmax(scores, dim=-1)          # masked entries: e^(-1e9) = 0
        return weights @ v, weights


if __name__ == "__main__":
    seq = 3
    mask = torch.tril(torch.ones(seq, seq)) == 0  # True above the diagonal: the future
    print(mask)
    torch.manual_seed(42)
    x = torch.tensor([[1.16, 0.23], [0.57, 1.36], [4.41, -2.16]])
    out, weights = MaskedSelfAttention()(x, mask)
    print(weights)  # lower triangular: token i sees tokens 0..=i only
