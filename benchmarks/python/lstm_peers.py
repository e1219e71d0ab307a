"""Issue 20's LSTM workload in PyTorch, the peers' side of benchmarks/lstm_cpu.cpp: the training
step (forward, cross-entropy, backward, Adam) and inference of nn.LSTM(28, 128, batch_first=True),
its last state -> nn.Linear(128, 10), batch 64, 28 steps, in eager mode and under torch.compile,
at the thread count given. Prints "lstm_cpu,<impl>,<pass>,<threads>,<ms>" lines (the best of
several rounds), as lstm_cpu does; scripts/bench-lstm.sh runs both, interleaved.

    python lstm_peers.py THREADS [eager|compile]...
"""
import sys
import time

import torch

B, T, F, H = 64, 28, 28, 128


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(F, H, batch_first=True)
        self.fc = torch.nn.Linear(H, 10)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1, :])


def best_ms(f, rounds=5, per_round=30):
    for _ in range(10):
        f()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(per_round):
            f()
        best = min(best, (time.perf_counter() - t0) / per_round)
    return best * 1e3


def main():
    threads = int(sys.argv[1])
    modes = sys.argv[2:] or ["eager", "compile"]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.randn(B, T, F)
    y = torch.randint(0, 10, (B,))
    for mode in modes:
        m = Net()
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)
        fwd = torch.compile(m) if mode == "compile" else m

        def step():
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(fwd(x), y).backward()
            opt.step()

        def infer():
            with torch.no_grad():
                fwd(x)

        impl = "torch_" + mode
        print(f"lstm_cpu,{impl},train,{threads},{best_ms(step):.4f}", flush=True)
        print(f"lstm_cpu,{impl},infer,{threads},{best_ms(infer):.4f}", flush=True)


if __name__ == "__main__":
    main()
