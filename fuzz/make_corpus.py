#!/usr/bin/env python3
"""Writes the seed corpus of the fuzzers (stdlib only): fuzz/corpus/<fuzzer>/<name>.

    python3 fuzz/make_corpus.py [out-dir]     # default: fuzz/corpus next to this script

Small valid files of each format, so that the fuzzers start from inputs that get past the first
checks, plus known-tricky ones (truncated and trailing-garbage gzip, concatenated members, a small
gzip bomb behind a header that announces a few bytes, headers that announce far more data than
the file holds). The output is deterministic (gzip timestamps are 0): rerunning it rewrites the
same bytes. The whole corpus stays well under 200 KB. fuzz/run.sh copies it to a temporary
directory before fuzzing, so the fuzzers never grow the committed corpus.
"""
import gzip
import json
import os
import shutil
import struct
import sys

IDX_TYPES = {"u8": (0x08, "B"), "i8": (0x09, "b"), "i16": (0x0B, ">h"), "i32": (0x0C, ">i"),
             "f32": (0x0D, ">f"), "f64": (0x0E, ">d")}


def idx(dtype, dims, values):
    code, fmt = IDX_TYPES[dtype]
    head = bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    return head + b"".join(struct.pack(fmt if fmt.startswith(">") else fmt, v) for v in values)


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def idx_corpus():
    images = idx("u8", [3, 4, 4], [(7 * i) % 256 for i in range(48)])
    labels = idx("u8", [3], [0, 1, 2])
    big_header = bytes([0, 0, 0x08, 1]) + struct.pack(">I", 0xFFFFFFFF)
    return {
        "images-u8.idx": images,
        "labels-u8.idx": labels,
        "images-u8.idx.gz": gz(images),
        "labels-u8.idx.gz": gz(labels),
        "images-i8.idx": idx("i8", [2, 3], [-3, -2, -1, 0, 1, 2]),
        "images-i16.idx": idx("i16", [2, 2], [-300, 0, 300, 32767]),
        "labels-i32.idx": idx("i32", [4], [0, 3, 1, 2]),
        "labels-i16.idx.gz": gz(idx("i16", [2], [1, 0])),
        "images-f32.idx": idx("f32", [2, 3], [0.5, -1.25, 3.0, 1e-3, 2.5e10, -0.0]),
        "images-f64.idx": idx("f64", [1, 2, 2], [0.25, -8.0, 1e-300, 7.0]),
        "images-f32-nan.idx": idx("f32", [2], [1.0, float("nan")]),
        "rank4.idx": idx("u8", [1, 1, 2, 2], [1, 2, 3, 4]),
        # 1 MiB of valid content in 1 KB: a seed for megabyte inputs.
        "megabyte.idx.gz": gz(idx("u8", [1024, 32, 32], [0] * (1 << 20))),
        # Tricky: truncated gzip, trailing garbage, two members (cat a.gz b.gz), a bomb behind a
        # header that announces 4 bytes, a header announcing 4 GB, data shorter than announced,
        # bytes after the data, a truncated header.
        "truncated.idx.gz": gz(images)[:-9],
        "trailing-garbage.idx.gz": gz(labels) + b"garbage",
        "two-members.idx.gz": gz(labels[:6]) + gz(labels[6:]),
        "bomb.idx.gz": gz(idx("u8", [4], [1, 2, 3, 4]) + bytes(4 << 20)),
        "announces-4gb.idx": big_header + bytes(16),
        "announces-4gb.idx.gz": gz(big_header + bytes(1024)),
        "short-data.idx": images[:-5],
        "extra-bytes.idx": labels + b"\x00\x01",
        "truncated-header.idx": images[:9],
    }


def csv_corpus():
    # The CSV harness takes two option bytes first (see csv_fuzz.cpp): byte 0 bits 0-1 delimiter
    # (, ; tab space), 2-3 header (detect, yes, no), 4 regression, 5 label column 0 (else last),
    # 6 text labels (classification) or two targets (regression); byte 1 bits 0-1 skip_rows.
    def opts(delim=0, header=0, regression=False, first=False, bit6=False, skip=0):
        return bytes([delim | header << 2 | regression << 4 | first << 5 | bit6 << 6, skip])

    return {
        "header.csv": opts() + b"a,b,c,label\n0.5,1,2,0\n1.5,-2,3e2,1\n2,2,2,2\n",
        "no-header.csv": opts(header=2) + b"1,2,0\n3,4,1\n5,6,0\n",
        "crlf-bom.csv": opts() + b"\xef\xbb\xbfx,y,label\r\n1,2,0\r\n3,4,1\r\n",
        "text-labels.csv": opts(bit6=True) + b"sepal,petal,species\n5.1,1.4,setosa\n"
                           b"6.2,4.5,versicolor\n7.7,6.7,virginica\n5.0,1.3,setosa\n",
        "label-first.csv": opts(delim=1, first=True) + b"label;f1;f2\n1;0.1;0.2\n0;0.3;0.4\n",
        "regression.csv": opts(regression=True, bit6=True) + b"x,y1,y2\n1,2,3\n4,5,6\n",
        "tabs.csv": opts(delim=2, header=1) + b"f1\tf2\tlabel\n1\t2\t0\n3\t4\t1\n",
        "spaces.csv": opts(delim=3, header=2) + b"1 2 0\n3 4 1\n",
        "quoted.csv": opts(header=1) + b'"a,1","say ""hi""",label\n"1","2",0\n"3",4,"1"\n',
        "sklearn-preamble.csv": opts(skip=1) + b"3,2,setosa,versicolor\n5.1,3.5,0\n4.9,3.0,1\n"
                                b"6.3,3.3,1\n",
        "savetxt-labels.csv": opts(header=2) + b"1.5,0.000000000000000000e+00\n"
                              b"2.5,1.000000000000000000e+00\n",
        "first-row-typo.csv": opts() + b"1,3O,0\n2,4,1\n",
        "trailing-comma.csv": opts() + b"1,2,0,\n3,4,1,\n",
        "ragged.csv": opts(header=2) + b"1,2,0\n3,1\n",
        "nan.csv": opts(header=2) + b"1,nan,0\n",
        "header-only.csv": opts(header=1) + b"a,b,label\n",
        "gzip.csv.gz": opts() + gz(b"a,b,label\n1,2,0\n3,4,1\n"),
        "truncated.csv.gz": opts() + gz(b"a,b,label\n1,2,0\n3,4,1\n")[:-6],
    }


def json_corpus():
    header = {"__metadata__": {"format": "pt"},
              "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}
    return {
        "object.json": json.dumps(header).encode(),
        "array.json": b'[1, -2.5e-3, 0, true, false, null, "x", [], {}]',
        "escapes.json": b'{"a\\"b": "\\u00e9\\ud83d\\ude00\\n\\t\\\\\\/", "k": "\xc3\xa9"}',
        "numbers.json": b"[0, -0, 1e308, 1E-308, 123456789012345678901234567890, 0.5e+2]",
        "nested.json": b"[" * 8 + b"1" + b"]" * 8,
        "too-deep.json": b"[" * 80 + b"]" * 80,
        "bad-surrogate.json": b'"\\ud800x"',
        "bad-utf8.json": b'"\xff\xfe"',
        "unterminated.json": b'{"a": [1, 2',
        "whitespace.json": b' \t\r\n{ "a" : 1 } \n',
    }


def safetensors(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape, raw bytes), stored in order."""
    head, offset, data = {}, 0, b""
    if metadata is not None:
        head["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        head[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(head, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_corpus():
    f32 = struct.pack("<6f", 0.5, -1, 2, 3.25, 0, -0.0)
    good = safetensors([("dense.weight", "F32", [2, 3], f32),
                        ("dense.bias", "F32", [2], struct.pack("<2f", 1, -1))],
                       {"format": "pt", "ctnn.seed": "42"})
    return {
        "f32.safetensors": good,
        "dtypes.safetensors": safetensors([
            ("f16", "F16", [2], struct.pack("<2e", 1.5, -2)),
            ("bf16", "BF16", [1], b"\x80\x3f"),
            ("f64", "F64", [1], struct.pack("<d", 0.1)),
            ("i64", "I64", [1], struct.pack("<q", -5)),
            ("i32", "I32", [1], struct.pack("<i", 7)),
            ("i16", "I16", [1], struct.pack("<h", -3)),
            ("i8", "I8", [1], struct.pack("<b", -1)),
            ("u8", "U8", [2], b"\x00\xff"),
            ("flag", "BOOL", [2], b"\x00\x01"),
        ]),
        "scalar-and-empty.safetensors": safetensors([("s", "F32", [], struct.pack("<f", 9)),
                                                     ("e", "F32", [0, 3], b"")]),
        "metadata-only.safetensors": safetensors([], {"ctnn.note": "no tensors"}),
        "empty-header.safetensors": safetensors([]),
        "unpadded.safetensors": safetensors([("x", "F32", [1], struct.pack("<f", 1))], pad=False),
        "truncated.safetensors": good[:-7],
        "header-past-end.safetensors": struct.pack("<Q", 1 << 20) + b"{}",
        "high-rank.safetensors": safetensors([("r", "F32", [1] * 12, struct.pack("<f", 1))]),
        "gap.safetensors": struct.pack("<Q", 64) + json.dumps(
            {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}},
            separators=(",", ":")).encode().ljust(64) + bytes(8),
        "bad-bool.safetensors": safetensors([("b", "BOOL", [1], b"\x02")]),
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    corpora = {"idx_fuzz": idx_corpus(), "csv_fuzz": csv_corpus(), "json_fuzz": json_corpus(),
               "safetensors_fuzz": safetensors_corpus()}
    total = 0
    for fuzzer, files in corpora.items():
        d = os.path.join(out, fuzzer)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, data in sorted(files.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            total += len(data)
        print(f"{d}: {len(files)} files")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
