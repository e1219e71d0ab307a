#!/usr/bin/env python3
"""Checks that ctnn's safetensors files interoperate with Python's `safetensors` package.

Usage: check_safetensors_python.py TEST_BINARY

TEST_BINARY is the doctest executable that holds tests/unit/io.cpp. The script
  1. writes from_python.safetensors (F32, F64, F16, I64 and an empty tensor, plus metadata) with
     numpy + safetensors into a temporary directory,
  2. runs the test case "io/safetensors: interop files for Python (CTNN_IO_INTEROP_DIR)" with
     CTNN_IO_INTEROP_DIR set to that directory: ctnn loads from_python.safetensors, checks its
     values, and writes from_ctnn.safetensors,
  3. loads from_ctnn.safetensors with safetensors and checks names, dtypes, shapes, values and
     metadata.

Exit status: 0 on success, 1 on a mismatch, 77 (the CTest/automake "skipped" code) when numpy or
safetensors cannot be imported. `pip install numpy safetensors` provides them.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file
except ImportError as e:  # optional dependency
    print(f"skipped: {e} (pip install numpy safetensors)")
    sys.exit(77)

TEST_CASE = "io/safetensors: interop files for Python*"


def fail(msg: str) -> None:
    print(f"FAIL: {msg}")
    sys.exit(1)


def main() -> None:
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="ctnn_interop_") as tmp:
        # 1. Python writes.
        save_file(
            {
                "a.f32": np.array([[0, 1.5, -2], [3, 4.25, -5]], dtype=np.float32),
                "b.f64": np.array([0.1, -0.2], dtype=np.float64),
                "c.f16": np.array([[1, -2], [0.5, 65504]], dtype=np.float16),
                "d.i64": np.array([-7, 0, 7], dtype=np.int64),
                "e.empty": np.zeros((0, 5), dtype=np.float32),
            },
            os.path.join(tmp, "from_python.safetensors"),
            metadata={"writer": "python \u00fc"},
        )

        # 2. ctnn reads it and writes its own file.
        env = dict(os.environ, CTNN_IO_INTEROP_DIR=tmp)
        run = subprocess.run([binary, f"--test-case={TEST_CASE}"], env=env,
                             capture_output=True, text=True)
        print(run.stdout, end="")
        print(run.stderr, end="", file=sys.stderr)
        if run.returncode != 0:
            fail(f"{binary} failed (exit status {run.returncode})")
        if "1 passed" not in run.stdout:
            fail(f"the test case '{TEST_CASE}' did not run")

        # 3. Python reads ctnn's file.
        path = os.path.join(tmp, "from_ctnn.safetensors")
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
        if (8 + n) % 8 != 0:
            fail(f"header length {n} does not align the data to 8 bytes")
        tensors = load_file(path)
        expected = {
            "fc.weight": (np.arange(12, dtype=np.float32) * np.float32(0.25)
                          - np.float32(1.0)).reshape(3, 4),
            "fc.bias": np.array([0.5, -0.5, 1e-8, 3e38], dtype=np.float32),
            "scale": np.array(3.5, dtype=np.float32),
        }
        if set(tensors) != set(expected):
            fail(f"tensor names {sorted(tensors)} != {sorted(expected)}")
        for name, want in expected.items():
            got = tensors[name]
            if got.dtype != np.float32 or got.shape != want.shape:
                fail(f"{name}: {got.dtype} {got.shape} != float32 {want.shape}")
            if not np.array_equal(got, want):
                fail(f"{name}: values {got} != {want}")
        with safe_open(path, framework="np") as f:
            meta = f.metadata()
        if meta != {"format": "np", "writer": "ctnn \u00fc"}:
            fail(f"metadata {meta}")
    print("OK: ctnn and Python safetensors read each other's files")


if __name__ == "__main__":
    main()
