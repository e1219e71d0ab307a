#!/usr/bin/env python3
"""Writes the malformed safetensors files of tests/static/corrupt (checked in; rerun to remake).

Each file breaks one rule ctnn-embed.cmake checks; tests/static/expect_embed_errors.cmake feeds
each to it and expects a failure with the message listed there."""
import json
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def raw(name, data):
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)


def file(name, header, data=b"", length=None):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(h) if length is None else length
    raw(name, struct.pack("<Q", n) + h + data)


f32 = lambda *v: struct.pack("<%df" % len(v), *v)
t = lambda dtype, shape, b, e: {"dtype": dtype, "shape": shape, "data_offsets": [b, e]}

raw("short.safetensors", b"\x05\x00\x00")
file("header_past_end.safetensors", b'{"a":1}', length=1000)
file("header_huge.safetensors", b"{}", length=1 << 40)
file("not_json.safetensors", b'{"a": [1, 2')
file("not_object.safetensors", b"[1, 2]")
file("dtype_i64.safetensors", {"x": t("I64", [1], 0, 8)}, struct.pack("<q", 3))
file("span_mismatch.safetensors", {"x": t("F32", [2], 0, 4)}, f32(1.0))
file("past_end.safetensors", {"x": t("F32", [2], 4, 12)}, f32(1.0, 2.0))
file("gap.safetensors", {"x": t("F32", [1], 0, 4), "y": t("F32", [1], 8, 12)}, f32(1, 2, 3))
file("overlap.safetensors", {"x": t("F32", [2], 0, 8), "y": t("F32", [1], 4, 8)}, f32(1, 2))
file("left_over.safetensors", {"x": t("F32", [1], 0, 4)}, f32(1, 2))
file("not_finite.safetensors", {"x": t("F32", [2], 0, 8)}, f32(1.0, float("nan")))
file("rank5.safetensors", {"x": t("F32", [1, 1, 1, 1, 1], 0, 4)}, f32(1))
file("no_offsets.safetensors", {"x": {"dtype": "F32", "shape": [1]}}, f32(1))
file("unknown_field.safetensors", {"x": dict(t("F32", [1], 0, 4), extra=1)}, f32(1))
file("bad_name.safetensors", {"a;b": t("F32", [1], 0, 4)}, f32(1))
file("negative_dim.safetensors", {"x": t("F32", [-1], 0, 4)}, f32(1))
file("no_tensors.safetensors", {"__metadata__": {"format": "pt"}})
