# Chapter 3 in PyTorch: one self-attention head, in the style of StatQuest's course.
import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, d_model=2, d_k=2):
        super().__init__()
        # Three learned projections without bias; weight: (d_k, d_model), y = x · Wᵀ
        self.W_q = nn.Linear(d_model, d_k, bias=False)
        self.W_k = nn.Linear(d_model, d_k, bias=False)
        self.W_v = nn.Linear(d_model, d_k, bias=False)

    def forward(self, x):                            # x: (seq, d_model)
        q = self.W_q(x)                              # (seq, d_k) what each token looks for
        k = self.W_k(x)                              # (seq, d_k) what each token contains
        v = self.W_v(x)                              # (seq, d_k) what each token offers
        scores = q @ k.T / k.size(-1) ** 0.5         # (seq, seq) similarities, scaled by √d_k
        weights = F.softmax(scores, dim=-1)          # each row sums to 1
        return weights @ v, weights                  # (seq, d_k), (seq, seq)


if __name__ == "__main__":
    torch.manual_seed(42)
    x = torch.tensor([[1.16, 0.23], [0.57, 1.36], [4.41, -2.16]])  # (seq, d_model): three tokens
    out, weights = SelfAttention(d_model=2, d_k=2)(x)
    print(weights)  # row i: how much token i attends to each token
