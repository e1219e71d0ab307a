"""The "seed" program of issue 5: the Keras program of the project's brief, as a user writes it.

    python keras_seed.py [DATA_DIR] [EPOCHS] [TRAIN_LIMIT]

Flatten(28x28) -> Dense(128, relu) -> Dense(10); Adam (Keras' defaults: lr 1e-3, eps 1e-7);
sparse categorical cross-entropy from logits; model.fit with Keras' defaults (batch 32, shuffled)
for 5 epochs; then model.evaluate on the test set. Pixels scaled to [0, 1]. The data are Debian's
IDX files (dataset-fashion-mnist), read here with numpy instead of keras.datasets (which downloads).
ctnn's side is benchmarks/seed_fashion_mnist.cpp, with the same settings.

Threads: the driver pins them (OMP/TF environment); this program calls
tf.config.threading.set_intra_op_parallelism_threads with TF_NUM_INTRAOP_THREADS if set, else keeps
TensorFlow's default (all cores). Prints one machine-readable line for the driver:
    seed,keras,<epochs>,<train samples>,<train seconds>,<test accuracy>,<test seconds>
"""
import gzip
import os
import sys
import time

import numpy as np


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(directory, name):
    for suffix in ("", ".gz"):
        path = os.path.join(directory, name + suffix)
        if os.path.exists(path):
            return read_idx(path)
    raise FileNotFoundError(os.path.join(directory, name) + "[.gz]")


def main(argv):
    directory = argv[1] if len(argv) > 1 else "/usr/share/datasets/fashion-mnist"
    epochs = int(argv[2]) if len(argv) > 2 else 5
    limit = int(argv[3]) if len(argv) > 3 else 0
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if os.environ.get("TF_NUM_INTRAOP_THREADS"):
        tf.config.threading.set_intra_op_parallelism_threads(
            int(os.environ["TF_NUM_INTRAOP_THREADS"]))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    x_train = load(directory, "train-images-idx3-ubyte") / 255.0
    y_train = load(directory, "train-labels-idx1-ubyte")
    x_test = load(directory, "t10k-images-idx3-ubyte") / 255.0
    y_test = load(directory, "t10k-labels-idx1-ubyte")
    if limit > 0:
        x_train, y_train = x_train[:limit], y_train[:limit]
    print(f"keras seed: keras {keras.__version__}, tensorflow {tf.__version__}, "
          f"{len(x_train)} training, {len(x_test)} test images, {epochs} epochs, intra-op threads "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default (all cores)'}",
          flush=True)

    model = keras.Sequential([
        keras.Input((28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, verbose=2)
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    test_s = time.perf_counter() - t1
    print(f"test accuracy {accuracy:.4f}, training {train_s:.2f} s", flush=True)
    print(f"seed,keras,{epochs},{len(x_train)},{train_s:.6g},{accuracy:.6g},{test_s:.6g}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
