# Chapter 5 in PyTorch: cross-attention. Same head as chapter 3; only the inputs differ.
import torch
import torch.nn.functional as F
from torch import nn


class CrossAttention(nn.Module):
    def __init__(self, d_model=2, d_k=2):
        super().__init__()
        self.W_q = nn.Linear(d_model, d_k, bias=False)
        self.W_k = nn.Linear(d_model, d_k, bias=False)
        self.W_v = nn.Linear(d_model, d_k, bias=False)

    def forward(self, decoder_states, encoder_output):
        q = self.W_q(decoder_states)                 # (tgt_len, d_k): the decoder asks
        k = self.W_k(encoder_output)                 # (src_len, d_k): the encoder's tokens answer
        v = self.W_v(encoder_output)                 # (src_len, d_k)
        scores = q @ k.T / k.size(-1) ** 0.5         # (tgt_len, src_len): not square in general
        weights = F.softmax(scores, dim=-1)          # each decoder row: a distribution over the source
        return weights @ v, weights                  # (tgt_len, d_k), (tgt_len, src_len)


if __name__ == "__main__":
    torch.manual_seed(0)
    encoder_output = torch.randn(4, 2)  # (src_len, d_model): a source sentence of 4 tokens
    decoder_states = torch.randn(2, 2)  # (tgt_len, d_model): 2 target tokens so far
    out, weights = CrossAttention()(decoder_states, encoder_output)
    print(weights.shape)  # torch.Size([2, 4])
