# Chapter 9 in PyTorch: one training step of chapter 7's model.
import torch
from torch import nn


def train_step(model, src, tgt, loss_fn, optimizer, max_norm):
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]  # teacher forcing: read token t, predict t + 1
    model.train()                              # dropout on (the crate: a `Train` value)
    optimizer.zero_grad()
    logits = model(src, tgt_in)                # (batch, tgt_len - 1, tgt_vocab)
    loss = loss_fn(logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1))
    loss.backward()                            # every parameter's .grad
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()                           # AdamW: Adam plus decoupled weight decay
    return loss.item(), grad_norm.item()


if __name__ == "__main__":
    from ch07_transformer import Seq2SeqTransformer

    PAD_ID = 0
    torch.manual_seed(0)
    model = Seq2SeqTransformer(src_vocab=11, tgt_vocab=13, pad_id=PAD_ID)
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD_ID,  # padded labels count for nothing
                                  label_smoothing=0.1)   # 10 % of each target spread over all tokens
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, betas=(0.9, 0.98), eps=1e-9,
                                  weight_decay=0.01)
    src = torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]])     # 2 = <bos>, 3 = <eos>, 0 = <pad>
    tgt = torch.tensor([[2, 8, 9, 3], [2, 4, 3, 0]])
    for step in range(3):
        print(train_step(model, src, tgt, loss_fn, optimizer, max_norm=1.0))  # the loss falls
