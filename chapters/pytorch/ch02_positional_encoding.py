# Chapter 2 in PyTorch: the sinusoidal positional encoding, as in The Annotated Transformer.
import math

import torch
from torch import nn


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)                    # (max_len, d_model)
        position = torch.arange(0, max_len).unsqueeze(1)      # (max_len, 1): 0, 1, 2, ...
        # 1 / 10000^(2i / d_model) for each pair i, computed as exp(-2i · ln(10000) / d_model)
        div_term = torch.exp(torch.arange(0, d_model, 2) * -(math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)          # even columns: sines
        pe[:, 1::2] = torch.cos(position * div_term)          # odd columns: cosines
        self.register_buffer("pe", pe.unsqueeze(0))           # (1, max_len, d_model), not learned

    def forward(self, x):                                     # x: (batch, seq, d_model)
        x = x + self.pe[:, : x.size(1)].requires_grad_(False)  # add row t to token t
        return self.dropout(x)


if __name__ == "__main__":
    pos = PositionalEncoding(d_model=8, dropout=0.0, max_len=20)
    x = torch.zeros(1, 5, 8)   # (batch, seq, d_model): zero "embeddings"
    print(pos(x)[0, 1])        # position 1's row: sin/cos pairs turning slower and slower
