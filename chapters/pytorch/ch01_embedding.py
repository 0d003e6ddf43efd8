# Chapter 1 in PyTorch: an embedding is a lookup table with one learned row per token id.
import torch
from torch import nn

torch.manual_seed(0)
vocab_size, d_model = 10, 4
embedding = nn.Embedding(vocab_size, d_model)  # weight: (vocab_size, d_model), drawn from N(0, 1)

ids = torch.tensor([[1, 5, 9], [5, 0, 2]])     # (batch, seq) token ids, from a vocabulary
x = embedding(ids)                             # (batch, seq, d_model)

# Nothing is computed: token ids[b, t] just picks row ids[b, t] of the table.
assert torch.equal(x[0, 1], embedding.weight[5])
assert torch.equal(x[1, 0], embedding.weight[5])  # the same id gives the same vector
