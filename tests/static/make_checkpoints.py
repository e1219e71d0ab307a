#!/usr/bin/env python3
"""Writes the checkpoints of tests/static (checked in; rerun to remake, byte for byte): the
parameters of Sequential<Input<5>, Dense<7>, ReLU, Dense<3>> as safetensors files that ctnn's
own save() would not write, for ctnn_embed_checkpoint and StaticModel to read:
  mlp_shuffled.safetensors  F32, tensors stored 2.bias, 0.weight, 2.weight, 0.bias
  mlp_half.safetensors      0.weight F16 (two subnormals), 0.bias and 2.weight BF16, 2.bias F32"""
import json
import os
import random
import struct

here = os.path.dirname(os.path.abspath(__file__))


def write(name, tensors, meta=None):
    header, blobs, offset = {}, [], 0
    for key, dtype, shape, data in tensors:
        header[key] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    with open(os.path.join(here, name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def normal(n):
    return [random.gauss(0, 0.5) for _ in range(n)]


def f32(v):
    return struct.pack("<%df" % len(v), *v)


def f16(v):
    return struct.pack("<%de" % len(v), *v)


def bf16(v):  # the upper 16 bits of each float32 (truncation)
    return b"".join(struct.pack("<H", struct.unpack("<I", struct.pack("<f", x))[0] >> 16) for x in v)


random.seed(3)
write("mlp_shuffled.safetensors",
      [("2.bias", "F32", [3], f32(normal(3))), ("0.weight", "F32", [7, 5], f32(normal(35))),
       ("2.weight", "F32", [3, 7], f32(normal(21))), ("0.bias", "F32", [7], f32(normal(7)))],
      meta={"format": "pt"})

random.seed(5)
w0 = normal(35)
w0[3], w0[4] = 1e-6, -2e-7  # F16 subnormals
write("mlp_half.safetensors",
      [("0.weight", "F16", [7, 5], f16(w0)), ("0.bias", "BF16", [7], bf16(normal(7))),
       ("2.weight", "BF16", [3, 7], bf16(normal(21))), ("2.bias", "F32", [3], f32(normal(3)))])
