#!/usr/bin/env python3
"""Fails on a wrong-way include in include/ctnn: a header may include only headers of its own layer
or a lower one (docs/design.md, "Layers"):

    config 0 < core 1 < expr, optim, loss, io 2 < layers 3 < graph 4 < backend 5 < model 6
    < train 7 < ctnn.hpp 8

Moreover backend/cuda never includes the CPU backend, and no two backend folders include each other
(backend/device.hpp and other files directly in backend/ are shared by both). graph/ lowers only: a
graph header that includes backend/ is reported as such (backend policy, e.g. the CUDA kernel
schedule or the CPU's convolution plan, belongs in that backend's folder).

    python3 scripts/check-layering.py [include-dir]

Prints each violation and the count last; exit status 1 if there is any. Run by ctest (test
layering.include) and so by scripts/test.sh and CI."""
import os
import re
import sys

RANKS = {"config.hpp": 0, "core": 1, "expr": 2, "optim": 2, "loss": 2, "io": 2, "io.hpp": 2,
         "layers": 3, "layers.hpp": 3, "graph": 4, "backend": 5, "model.hpp": 6, "model": 6,
         "train": 7, "ctnn.hpp": 8}
INCLUDE = re.compile(r'\s*#\s*include\s*(?:<ctnn/([^>]+)>|"([^"]+)")')


def rank(rel):
    return RANKS.get(rel.split("/")[0])


def folder(rel):
    """backend/<name> for a file in a backend folder, else the top-level name."""
    parts = rel.split("/")
    return "/".join(parts[:2]) if parts[0] == "backend" and len(parts) > 2 else parts[0]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "include")
    base = os.path.join(root, "ctnn")
    if not os.path.isdir(base):
        print(f"check-layering: no {base}")
        return 2
    bad, edges = [], set()
    for dirpath, _, files in os.walk(base):
        for name in sorted(files):
            if not name.endswith((".hpp", ".h", ".cuh")):
                continue
            path = os.path.join(dirpath, name)
            src = os.path.relpath(path, base).replace(os.sep, "/")
            with open(path, errors="replace") as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    if m.group(1):
                        dst = m.group(1)
                    else:
                        full = os.path.normpath(os.path.join(dirpath, m.group(2)))
                        if not os.path.exists(full):
                            continue
                        dst = os.path.relpath(full, base).replace(os.sep, "/")
                        if dst.startswith(".."):
                            continue
                    rs, rd = rank(src), rank(dst)
                    if rs is None or rd is None:
                        continue
                    where = f"{src}:{number}: includes {dst}"
                    if rd > rs:
                        why = (" (graph/ lowers only: backend policy belongs in backend/)"
                               if src.startswith("graph/") and dst.startswith("backend/") else "")
                        bad.append(f"{where} (layer {rs} includes the higher layer {rd}){why}")
                    fs, fd = folder(src), folder(dst)
                    if fs.startswith("backend/") and fd.startswith("backend/") and fs != fd:
                        edges.add((fs, fd))
                        if fs == "backend/cuda":
                            bad.append(f"{where} (the CUDA backend includes another backend)")
    for a, b in sorted(edges):
        if (b, a) in edges and a < b:
            bad.append(f"folder cycle: {a} <-> {b}")
    for b in bad:
        print(b)
    print(f"{len(bad)} wrong-way includes")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
