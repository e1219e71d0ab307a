"""Workloads A, B and C of issue 5 in the Python frameworks: one implementation, one thread count.

    python mlp_peers.py IMPL THREADS quick|full WORKLOADS

IMPL is one of IMPLS below; WORKLOADS is a comma-separated subset of "A,B,C", or "none" (load the framework and build
nothing: the baseline of the memory table). The driver (benchmarks/python/driver.py) starts one
such process per implementation and thread count, with the thread pools pinned in its environment
(OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS, TF_NUM_INTRAOP_THREADS, ...),
and this worker pins them again through each framework's own API before building anything.

Output: the line protocol of benchmarks/common/bench.hpp's Recorder, plus the one-time costs:
    result,<impl>,<threads>,<workload>,<pass>,<batch>,<seconds per call>,<calls timed>
    note,<impl>,<text>
    startup,<impl>,<threads>,<seconds to import the framework and pin its threads>
    compile,<impl>,<threads>,<workload>,<pass>,<seconds of the first call, incl. trace/compile>
    cpu,<impl>,<threads>,<workload>,<pass>,<process CPU seconds / wall seconds while timed>
    unavailable,<impl>,<reason>      (the framework is not installed: exit status 0)

Timing is the C++ Recorder's: warm-up for half a repetition, then 3 repetitions of a calibrated
number of calls (about 0.15 s each, 0.02 s with quick); the median repetition's time per call.
The first call of each pass (trace, compile, first-touch allocations) is timed on its own and
never enters the timed loop. Every timed call waits for its result (JAX dispatches
asynchronously: block_until_ready), so a call's time is its real cost.

All implementations do what the C++ ones do (benchmarks/common/bench.hpp): fp32, the same layer
widths and batches, plain SGD with lr 1e-4 (no momentum, no weight decay), biases everywhere,
softmax cross-entropy on integer labels (A, C) or mean squared error over all outputs (B); inputs
and targets are made once, before timing, in the framework's own tensor type, with the same
distributions as the C++ data (values differ: timings do not depend on them).
"""
import importlib
import importlib.util
import os
import re
import resource
import sys
import time

IMPLS = ("pytorch", "torch.compile", "jax.jit", "keras", "onnxruntime", "onnxruntime-int8")

WORKLOADS = {
    # name: (widths, classification, batch); C's widths are only its input and output sizes
    "A": ((784, 128, 10), True, 256),
    "B": ((32, 64, 64, 64, 64, 16), False, 16384),
    "C": ((784, 10), True, 128),
}
# Workload C is the CNN of examples/fashion_mnist_cnn.cpp on [1, 28, 28] images (the input rows
# are reshaped): Conv(32, 3x3, same), ReLU, MaxPool 2, Conv(64, 3x3, same), ReLU, MaxPool 2,
# Flatten, Dense 128, ReLU, Dropout 0.3, Dense 10.
CNN = {"C"}
DROPOUT = 0.3
SGD_LR = 1e-4


def say(*fields):
    print(",".join(str(f) for f in fields), flush=True)


class Recorder:
    """Times callables like bench::Recorder (C++) and prints result/compile/cpu lines."""

    def __init__(self, impl, threads, quick):
        self.impl, self.threads, self.quick = impl, threads, quick

    def note(self, text):
        say("note", self.impl, text.replace("\n", " "))

    def measure(self, workload, pass_name, batch, step):
        clock = time.perf_counter
        target = 0.02 if self.quick else 0.15
        t0 = clock()
        step()  # first call: trace/compile, first-touch allocations
        say("compile", self.impl, self.threads, workload, pass_name, f"{clock() - t0:.6g}")
        w0 = clock()
        warm = 0
        while True:
            step()
            warm += 1
            if clock() - w0 >= target / 2 or warm >= 1000000:
                break
        per_call = (clock() - w0) / warm
        calls = max(1, int(target / per_call))
        times = []
        c0, wall0 = time.process_time(), clock()
        for _ in range(3):
            t0 = clock()
            for _ in range(calls):
                step()
            times.append((clock() - t0) / calls)
        cpu = (time.process_time() - c0) / max(clock() - wall0, 1e-9)
        times.sort()
        say("result", self.impl, self.threads, workload, pass_name, batch, f"{times[1]:.9g}",
            calls * 3)
        say("cpu", self.impl, self.threads, workload, pass_name, f"{cpu:.3f}")


def make_data(np, widths, classification, batch, seed=1):
    rng = np.random.default_rng(seed)
    lo = 0.0 if classification else -1.0
    x = rng.uniform(lo, 1.0, size=(batch, widths[0])).astype(np.float32)
    if classification:
        y = rng.integers(0, widths[-1], size=(batch,)).astype(np.int64)
    else:
        y = rng.uniform(-1.0, 1.0, size=(batch, widths[-1])).astype(np.float32)
    return x, y


# --- PyTorch (eager and torch.compile) ---------------------------------------------------------


def run_torch(rec, workloads, compiled):
    t0 = time.perf_counter()
    import numpy as np
    import torch

    torch.set_num_threads(rec.threads)
    torch.set_num_interop_threads(1)
    say("startup", rec.impl, rec.threads, f"{time.perf_counter() - t0:.6g}")
    blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    rec.note(f"torch {torch.__version__}, torch.get_num_threads()={torch.get_num_threads()}, "
             f"interop threads {torch.get_num_interop_threads()}, "
             f"CPU capability {torch.backends.cpu.get_cpu_capability()}, "
             f"oneDNN {torch.backends.mkldnn.is_available()}, BLAS {blas.group(1) if blas else '?'}, "
             f"OpenMP {torch.backends.openmp.is_available()}")
    if compiled:
        import torch._inductor.config as inductor_config

        rec.note("torch.compile(backend='inductor', dynamic=False), default mode; the optimizer "
                 "step compiled too; inductor FX-graph cache in TORCHINDUCTOR_CACHE_DIR="
                 + os.environ.get("TORCHINDUCTOR_CACHE_DIR", "(default)")
                 + f", cpp threads {inductor_config.cpp.threads}")

    for name in workloads:
        widths, classification, batch = WORKLOADS[name]
        torch.manual_seed(42)
        nn = torch.nn
        if name in CNN:
            net = nn.Sequential(
                nn.Unflatten(1, (1, 28, 28)),
                nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(DROPOUT),
                nn.Linear(128, 10))
        else:
            layers = []
            for i in range(len(widths) - 1):
                layers.append(nn.Linear(widths[i], widths[i + 1]))
                if i + 2 < len(widths):
                    layers.append(nn.ReLU())
            net = nn.Sequential(*layers)
        opt = torch.optim.SGD(net.parameters(), lr=SGD_LR)
        xn, yn = make_data(np, widths, classification, batch)
        x, y = torch.from_numpy(xn), torch.from_numpy(yn)
        x1 = x[:1].clone()
        loss_fn = (torch.nn.functional.cross_entropy if classification
                   else torch.nn.functional.mse_loss)

        if compiled:
            # The documented recipe: compile the model+loss (AOTAutograd compiles its backward
            # too) and the optimizer step; zero_grad and backward() stay Python calls.
            @torch.compile(dynamic=False)
            def forward_loss(xb, yb):
                return loss_fn(net(xb), yb)

            @torch.compile(dynamic=False)
            def opt_step():
                opt.step()

            def train():
                opt.zero_grad(set_to_none=True)
                forward_loss(x, y).backward()
                opt_step()

            infer_net = torch.compile(net, dynamic=False)
            latency_net = torch.compile(net, dynamic=False)  # its own graph for batch 1
        else:
            def train():
                opt.zero_grad(set_to_none=True)
                loss_fn(net(x), y).backward()
                opt.step()

            infer_net = latency_net = net

        net.train()
        rec.measure(name, "train", batch, train)
        net.eval()  # Dropout off
        # Inference under no_grad (torch.compile does not trace under inference_mode in all
        # versions); eager mode uses inference_mode, the fastest eager setting.
        guard = torch.no_grad if compiled else torch.inference_mode
        with guard():
            rec.measure(name, "infer", batch, lambda: infer_net(x))
            rec.measure(name, "latency", 1, lambda: latency_net(x1))


# --- JAX ------------------------------------------------------------------------------------


def run_jax(rec, workloads):
    t0 = time.perf_counter()
    import numpy as np
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_platforms", "cpu")
    dev = jax.devices()[0]
    say("startup", rec.impl, rec.threads, f"{time.perf_counter() - t0:.6g}")
    rec.note(f"jax {jax.__version__}, jaxlib {importlib.import_module('jaxlib').__version__}, "
             f"device {dev.platform}, CPU affinity {sorted(os.sched_getaffinity(0))} (XLA sizes its "
             "thread pools by it)")

    for name in workloads:
        widths, classification, batch = WORKLOADS[name]
        if name in CNN:
            run_jax_cnn(rec, name, batch, np, jax, jnp)
            continue
        key = jax.random.PRNGKey(42)
        params = []
        for i in range(len(widths) - 1):
            key, kw = jax.random.split(key)
            bound = 1.0 / np.sqrt(widths[i])
            w = jax.random.uniform(kw, (widths[i], widths[i + 1]), jnp.float32, -bound, bound)
            params.append((w, jnp.zeros((widths[i + 1],), jnp.float32)))

        def forward(p, xb):
            h = xb
            for i, (w, b) in enumerate(p):
                h = h @ w + b
                if i + 1 < len(p):
                    h = jax.nn.relu(h)
            return h

        def loss(p, xb, yb):
            out = forward(p, xb)
            if classification:
                logp = jax.nn.log_softmax(out)
                return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))
            return jnp.mean((out - yb) ** 2)

        def sgd_step(p, xb, yb):
            value, grads = jax.value_and_grad(loss)(p, xb, yb)
            new = jax.tree_util.tree_map(lambda a, g: a - SGD_LR * g, p, grads)
            return new, value

        train_step = jax.jit(sgd_step, donate_argnums=0)
        infer = jax.jit(forward)
        xn, yn = make_data(np, widths, classification, batch)
        x = jax.device_put(xn)
        y = jax.device_put(yn.astype(np.int32) if classification else yn)
        x1 = jax.device_put(xn[:1])
        state = {"p": params}

        def train():
            state["p"], value = train_step(state["p"], x, y)
            value.block_until_ready()

        rec.measure(name, "train", batch, train)
        rec.measure(name, "infer", batch, lambda: infer(state["p"], x).block_until_ready())
        rec.measure(name, "latency", 1, lambda: infer(state["p"], x1).block_until_ready())


def run_jax_cnn(rec, name, batch, np, jax, jnp):
    """Workload C with jax.lax convolutions in NCHW/OIHW (PyTorch's layouts)."""
    lax = jax.lax
    key = jax.random.PRNGKey(42)

    def uniform(k, shape, fan_in):
        bound = 1.0 / np.sqrt(fan_in)
        return jax.random.uniform(k, shape, jnp.float32, -bound, bound)

    ks = jax.random.split(key, 4)
    params = {
        "c1": (uniform(ks[0], (32, 1, 3, 3), 9), jnp.zeros((32,), jnp.float32)),
        "c2": (uniform(ks[1], (64, 32, 3, 3), 288), jnp.zeros((64,), jnp.float32)),
        "d1": (uniform(ks[2], (3136, 128), 3136), jnp.zeros((128,), jnp.float32)),
        "d2": (uniform(ks[3], (128, 10), 128), jnp.zeros((10,), jnp.float32)),
    }

    def conv_relu_pool(h, wb):
        w, b = wb
        h = lax.conv_general_dilated(h, w, (1, 1), "SAME",
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
        h = jax.nn.relu(h + b[None, :, None, None])
        return lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def forward(p, xb, drop_key=None):
        h = xb.reshape((-1, 1, 28, 28))
        h = conv_relu_pool(h, p["c1"])
        h = conv_relu_pool(h, p["c2"])
        h = h.reshape((h.shape[0], -1))
        h = jax.nn.relu(h @ p["d1"][0] + p["d1"][1])
        if drop_key is not None:
            keep = jax.random.bernoulli(drop_key, 1.0 - DROPOUT, h.shape)
            h = jnp.where(keep, h / (1.0 - DROPOUT), 0.0)
        return h @ p["d2"][0] + p["d2"][1]

    def loss(p, xb, yb, k):
        logp = jax.nn.log_softmax(forward(p, xb, k))
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    def sgd_step(p, k, xb, yb):
        k, sub = jax.random.split(k)
        value, grads = jax.value_and_grad(loss)(p, xb, yb, sub)
        return jax.tree_util.tree_map(lambda a, g: a - SGD_LR * g, p, grads), k, value

    train_step = jax.jit(sgd_step, donate_argnums=0)
    infer = jax.jit(forward)
    xn, yn = make_data(np, (784, 10), True, batch)
    x, y = jax.device_put(xn), jax.device_put(yn.astype(np.int32))
    x1 = jax.device_put(xn[:1])
    state = {"p": params, "k": jax.random.PRNGKey(7)}

    def train():
        state["p"], state["k"], value = train_step(state["p"], state["k"], x, y)
        value.block_until_ready()

    rec.measure(name, "train", batch, train)
    rec.measure(name, "infer", batch, lambda: infer(state["p"], x).block_until_ready())
    rec.measure(name, "latency", 1, lambda: infer(state["p"], x1).block_until_ready())


# --- Keras 3 (TensorFlow backend) ----------------------------------------------------------------


def run_keras(rec, workloads):
    t0 = time.perf_counter()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(rec.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    say("startup", rec.impl, rec.threads, f"{time.perf_counter() - t0:.6g}")
    rec.note(f"keras {keras.__version__} on tensorflow {tf.__version__} "
             f"(backend {keras.backend.backend()}), intra-op threads "
             f"{tf.config.threading.get_intra_op_parallelism_threads()}, inter-op "
             f"{tf.config.threading.get_inter_op_parallelism_threads()}, oneDNN "
             f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}; compile() defaults "
             "(jit_compile='auto': no XLA on a CPU-only machine); train_on_batch / "
             "predict_on_batch")

    for name in workloads:
        widths, classification, batch = WORKLOADS[name]
        keras.utils.set_random_seed(42)
        L = keras.layers
        if name in CNN:
            # channels_last: TensorFlow's CPU convolutions do not take NCHW
            layers = [keras.Input((784,)), L.Reshape((28, 28, 1)),
                      L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
                      L.Conv2D(64, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
                      L.Flatten(), L.Dense(128, activation="relu"), L.Dropout(DROPOUT),
                      L.Dense(10)]
        else:
            layers = [keras.Input((widths[0],))]
            for i in range(1, len(widths)):
                act = "relu" if i + 1 < len(widths) else None
                layers.append(L.Dense(widths[i], activation=act))
        model = keras.Sequential(layers)
        loss = (keras.losses.SparseCategoricalCrossentropy(from_logits=True) if classification
                else keras.losses.MeanSquaredError())
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=SGD_LR), loss=loss)
        xn, yn = make_data(np, widths, classification, batch)
        x, y = tf.constant(xn), tf.constant(yn.astype(np.int32) if classification else yn)
        x1 = tf.constant(xn[:1])
        rec.measure(name, "train", batch, lambda: model.train_on_batch(x, y))
        rec.measure(name, "infer", batch, lambda: model.predict_on_batch(x))
        rec.measure(name, "latency", 1, lambda: model.predict_on_batch(x1))


# --- ONNX Runtime (inference only) ---------------------------------------------------------


def onnx_mlp(widths, rng):
    """The MLP as an ONNX graph built with the onnx package: Gemm (W stored [out, in], transB=1,
    as torch.onnx.export writes nn.Linear) and Relu, a dynamic batch dimension."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    h = "x"
    for i in range(len(widths) - 1):
        bound = 1.0 / np.sqrt(widths[i])
        w = rng.uniform(-bound, bound, size=(widths[i + 1], widths[i])).astype(np.float32)
        b = rng.uniform(-bound, bound, size=(widths[i + 1],)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"W{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = "y" if i + 2 == len(widths) else f"z{i}"
        nodes.append(helper.make_node("Gemm", [h, f"W{i}", f"b{i}"], [out], transB=1))
        h = out
        if i + 2 < len(widths):
            nodes.append(helper.make_node("Relu", [out], [f"h{i}"]))
            h = f"h{i}"
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", widths[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", widths[-1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def onnx_cnn(rng):
    """Workload C as an ONNX graph: Reshape to [N, 1, 28, 28], Conv (pads 1) + Relu + MaxPool
    twice, Flatten, Gemm + Relu, Gemm (Dropout is the identity in inference)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    def param(name, shape, fan_in):
        bound = 1.0 / np.sqrt(fan_in)
        return numpy_helper.from_array(
            rng.uniform(-bound, bound, size=shape).astype(np.float32), name)

    inits = [numpy_helper.from_array(np.array([-1, 1, 28, 28], np.int64), "shape"),
             param("C1", (32, 1, 3, 3), 9), param("c1", (32,), 9),
             param("C2", (64, 32, 3, 3), 288), param("c2", (64,), 288),
             param("W1", (128, 3136), 3136), param("b1", (128,), 3136),
             param("W2", (10, 128), 128), param("b2", (10,), 128)]
    mk = helper.make_node
    nodes = [mk("Reshape", ["x", "shape"], ["img"]),
             mk("Conv", ["img", "C1", "c1"], ["z1"], pads=[1, 1, 1, 1]),
             mk("Relu", ["z1"], ["r1"]),
             mk("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             mk("Conv", ["p1", "C2", "c2"], ["z2"], pads=[1, 1, 1, 1]),
             mk("Relu", ["z2"], ["r2"]),
             mk("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
             mk("Flatten", ["p2"], ["f"], axis=1),
             mk("Gemm", ["f", "W1", "b1"], ["z3"], transB=1),
             mk("Relu", ["z3"], ["r3"]),
             mk("Gemm", ["r3", "W2", "b2"], ["y"], transB=1)]
    graph = helper.make_graph(
        nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def quantize_onnx(graph, xn, ort_quant, tmp):
    """ONNX Runtime's static int8 quantization of `graph` (serialized) with the benchmark batch xn
    as calibration data, as ctnn-int8 calibrates: quant_pre_process, then MinMax ranges,
    per-channel int8 weights, uint8 activations (ORT's x86 default, its U8S8 kernels), QDQ
    format. Returns the quantized model's bytes."""
    raw, src = os.path.join(tmp, "raw.onnx"), os.path.join(tmp, "fp32.onnx")
    dst = os.path.join(tmp, "int8.onnx")
    with open(raw, "wb") as f:
        f.write(graph)
    # ORT's recommended pre-processing (shape inference, graph optimization) first.
    from onnxruntime.quantization.shape_inference import quant_pre_process
    quant_pre_process(raw, src)

    class Reader(ort_quant.CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": xn}])

        def get_next(self):
            return next(self.batches, None)

    ort_quant.quantize_static(src, dst, Reader(), quant_format=ort_quant.QuantFormat.QDQ,
                              per_channel=True, activation_type=ort_quant.QuantType.QUInt8,
                              weight_type=ort_quant.QuantType.QInt8,
                              calibrate_method=ort_quant.CalibrationMethod.MinMax)
    with open(dst, "rb") as f:
        return f.read()


def run_onnxruntime(rec, workloads, int8=False):
    t0 = time.perf_counter()
    import tempfile

    import numpy as np
    import onnx
    import onnxruntime as ort
    if int8:
        import onnxruntime.quantization as ort_quant

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = rec.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    say("startup", rec.impl, rec.threads, f"{time.perf_counter() - t0:.6g}")
    rec.note(f"onnxruntime {ort.__version__} (onnx {onnx.__version__}), CPUExecutionProvider, "
             f"intra-op threads {opts.intra_op_num_threads}, inter-op 1, sequential, "
             "ORT_ENABLE_ALL, spinning on (default); graph: Gemm+Relu (C: Conv/MaxPool too) built "
             "with the onnx package, opset 17; timed: InferenceSession.run" +
             ("; int8: quantize_static (QDQ, per-channel int8 weights, uint8 activations, "
              "MinMax on the benchmark batch)" if int8 else ""))

    for name in workloads:
        widths, classification, batch = WORKLOADS[name]
        xn, _ = make_data(np, widths, classification, batch)
        t1 = time.perf_counter()
        graph = (onnx_cnn(np.random.default_rng(42)) if name in CNN
                 else onnx_mlp(widths, np.random.default_rng(42)))
        if int8:
            with tempfile.TemporaryDirectory() as tmp:
                graph = quantize_onnx(graph, xn, ort_quant, tmp)
        sess = ort.InferenceSession(graph, opts,
                                    providers=["CPUExecutionProvider"])
        say("compile", rec.impl, rec.threads, name, "session", f"{time.perf_counter() - t1:.6g}")
        x1 = np.ascontiguousarray(xn[:1])
        rec.measure(name, "infer", batch, lambda: sess.run(None, {"x": xn}))
        rec.measure(name, "latency", 1, lambda: sess.run(None, {"x": x1}))


RUNNERS = {
    "pytorch": lambda r, w: run_torch(r, w, compiled=False),
    "torch.compile": lambda r, w: run_torch(r, w, compiled=True),
    "jax.jit": run_jax,
    "keras": run_keras,
    "onnxruntime": run_onnxruntime,
    "onnxruntime-int8": lambda r, w: run_onnxruntime(r, w, int8=True),
}
# The module whose absence makes an implementation "not installed".
NEEDS = {"pytorch": "torch", "torch.compile": "torch", "jax.jit": "jax",
         "keras": "keras", "onnxruntime": "onnxruntime", "onnxruntime-int8": "onnxruntime"}


def main(argv):
    if len(argv) != 5 or argv[1] not in RUNNERS:
        print(__doc__, file=sys.stderr)
        return 2
    impl, threads, quick = argv[1], int(argv[2]), argv[3] == "quick"
    workloads = [w for w in argv[4].split(",") if w in WORKLOADS]
    for module in (NEEDS[impl], "numpy") + (("tensorflow",) if impl == "keras" else ()) + (
            ("onnx",) if impl.startswith("onnxruntime") else ()):
        if importlib.util.find_spec(module) is None:
            say("unavailable", impl, f"not installed (no module {module})")
            return 0
    if impl == "jax.jit" and threads < len(os.sched_getaffinity(0)):
        # XLA's CPU client sizes its thread pools by the CPU affinity mask; jax 0.10 ignores
        # --xla_cpu_multi_thread_eigen and intra_op_parallelism_threads (its work still ran on
        # 4 threads), so `threads` cores it is, before jax is imported.
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    rec = Recorder(impl, threads, quick)
    RUNNERS[impl](rec, workloads)
    # ru_maxrss is in KiB on Linux; the driver also reads it from wait4().
    say("maxrss", impl, threads, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
