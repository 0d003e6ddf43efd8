# Chapter 7 in PyTorch: an encoder-decoder around nn.Transformer, as in PyTorch's
# "Language Translation with nn.Transformer" tutorial.
import math

import torch
from torch import nn


class Seq2SeqTransformer(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, d_model=8, nhead=2, layers=2, d_ff=16,
                 norm_first=False, max_len=50, pad_id=0):
        super().__init__()
        self.d_model, self.pad_id = d_model, pad_id
        self.src_embedding = nn.Embedding(src_vocab, d_model)
        self.tgt_embedding = nn.Embedding(tgt_vocab, d_model)
        self.transformer = nn.Transformer(
            d_model=d_model, nhead=nhead,
            num_encoder_layers=layers, num_decoder_layers=layers,
            dim_feedforward=d_ff, dropout=0.0,
            batch_first=True,       # (batch, seq, d_model), like the crate
            norm_first=norm_first,  # False: post-LN (the paper); True: pre-LN
        )
        self.generator = nn.Linear(d_model, tgt_vocab)  # d_model -> one logit per token
        self.register_buffer("pe", sinusoidal(max_len, d_model), persistent=False)

    def embed(self, table, ids):  # (batch, seq) -> (batch, seq, d_model)
        return table(ids) * math.sqrt(self.d_model) + self.pe[: ids.size(1)]

    def forward(self, src, tgt):  # token ids (batch, src_len), (batch, tgt_len)
        tgt_len = tgt.size(1)
        # Bool masks: True = may NOT attend (nn.Transformer.generate_square_subsequent_mask
        # gives the same causal mask as floats, -inf above the diagonal).
        causal = torch.triu(torch.ones(tgt_len, tgt_len, dtype=torch.bool), diagonal=1)
        out = self.transformer(
            self.embed(self.src_embedding, src),
            self.embed(self.tgt_embedding, tgt),
            tgt_mask=causal,                             # no peeking at later targets
            src_key_padding_mask=src == self.pad_id,     # encoder ignores padded keys
            tgt_key_padding_mask=tgt == self.pad_id,
            memory_key_padding_mask=src == self.pad_id,  # cross-attention too
        )                                                # (batch, tgt_len, d_model)
        return self.generator(out)                       # (batch, tgt_len, tgt_vocab)


def sinusoidal(max_len, d_model):  # chapter 2's table, (max_len, d_model)
    position = torch.arange(max_len).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2) * -(math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe


if __name__ == "__main__":
    torch.manual_seed(0)
    model = Seq2SeqTransformer(src_vocab=11, tgt_vocab=13).eval()
    src = torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]])  # 0 = <pad>
    tgt = torch.tensor([[2, 8, 9], [2, 4, 0]])
    print(model(src, tgt).shape)  # torch.Size([2, 3, 13])
