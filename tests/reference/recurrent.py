#!/usr/bin/env python3
"""Reference values of torch.nn.RNN / LSTM / GRU for tests/unit/recurrent.cpp.

For each case: a one-layer module (batch_first) with float32-representable parameters, an input x
[B, T, F] and targets t; in float64, the output y (the last hidden state, or every step's), the
loss MSE(y, t) (mean over all values) and its gradients with respect to every parameter and x.
Writes, under tests/reference/recurrent/ (committed; rerun this script to remake them):
  <case>.safetensors      the module's state dict named as ctnn's Sequential<Input<T, F>, Layer>
                          names it ("0.weight_ih_l0", ...): a checkpoint Model::load reads
  <case>.ref.safetensors  x, t, y and the gradients ("grad.0.weight_ih_l0", ..., "grad.x")
All tensors are F32; every value is a float32, so ctnn in double must match to rounding.
Needs torch and numpy only (the files are written by hand: no safetensors package).
"""
import json
import os
import struct

import numpy as np
import torch

B, T, F, H = 3, 5, 4, 6
CASES = [
    # name, module, returns every step
    ("lstm_last", lambda: torch.nn.LSTM(F, H, batch_first=True), False),
    ("lstm_seq", lambda: torch.nn.LSTM(F, H, batch_first=True), True),
    ("gru_last", lambda: torch.nn.GRU(F, H, batch_first=True), False),
    ("gru_seq", lambda: torch.nn.GRU(F, H, batch_first=True), True),
    ("rnn_tanh_last", lambda: torch.nn.RNN(F, H, batch_first=True), False),
    ("rnn_relu_seq", lambda: torch.nn.RNN(F, H, nonlinearity="relu", batch_first=True), True),
    ("bilstm_last", lambda: torch.nn.LSTM(F, H, batch_first=True, bidirectional=True), False),
    ("bigru_seq", lambda: torch.nn.GRU(F, H, batch_first=True, bidirectional=True), True),
]


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, a in tensors:
        data = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recurrent")
    os.makedirs(out_dir, exist_ok=True)
    for k, (name, make, sequences) in enumerate(CASES):
        torch.manual_seed(100 + k)
        m = make()
        with torch.no_grad():  # biases away from their initial range, float32 values
            for p in m.parameters():
                p.add_(0.2 * torch.randn_like(p))
        m = m.double()
        x = torch.randn(B, T, F, dtype=torch.float32).double().requires_grad_(True)
        out, h_n = m(x)
        if isinstance(h_n, tuple):  # LSTM: (h_n, c_n)
            h_n = h_n[0]
        # The last state: h_n, [directions, B, H] -> [B, directions * H] (for one direction
        # the same as out[:, -1, :]; for two, the reverse cell's state after the whole sequence).
        y = out if sequences else h_n.permute(1, 0, 2).reshape(B, -1)
        t = torch.randn(y.shape, dtype=torch.float32).double()
        loss = torch.nn.functional.mse_loss(y, t)
        loss.backward()
        params = [("0." + n, p.detach().numpy()) for n, p in m.named_parameters()]
        write_safetensors(os.path.join(out_dir, name + ".safetensors"), params)
        ref = [("x", x.detach().numpy()), ("t", t.numpy()), ("y", y.detach().numpy())]
        ref += [("grad.0." + n, p.grad.numpy()) for n, p in m.named_parameters()]
        ref += [("grad.x", x.grad.numpy())]
        write_safetensors(os.path.join(out_dir, name + ".ref.safetensors"), ref)
        print(f"{name}: loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
