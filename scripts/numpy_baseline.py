#!/usr/bin/env python3
"""NumPy baseline for one CPU retrieval step: softmax(beta * Q @ X.T) @ X, in float32.

The softmax is the numerically stable one the crate computes (subtract each row's max, exponentiate,
divide by the row sum), so both sides do the same work. Prints the median time over at least 20
runs after a warm-up, with the spread, for the workloads `benches/cpu.rs` times, plus the BLAS
NumPy is linked against and the thread count it may use.

    python3 scripts/numpy_baseline.py [--runs 30]
"""

import argparse
import os
import statistics
import time

import numpy as np

# (B, N, d): one query against a big memory, a large batch (the CPU row of docs/workloads.md), latency.
WORKLOADS = [(1, 1 << 16, 128), (256, 1 << 14, 128), (1, 1024, 64)]
BETA = 4.0


def retrieve(q, x, beta):
    """One step, allocating like a plain NumPy user would; max-subtraction and normalisation."""
    s = q @ x.T
    s *= beta
    s -= s.max(axis=1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=1, keepdims=True)
    return s @ x


def blas_summary():
    """The BLAS NumPy was built against, from numpy.show_config()'s structured form."""
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version', '')} ({blas.get('openblas configuration', '').strip()})"
    except Exception as e:  # older NumPy without mode="dicts"
        return f"unknown ({e})"


def threads():
    """Threads the BLAS will use: threadpoolctl when installed, else the environment and cores."""
    try:
        from threadpoolctl import threadpool_info

        return ", ".join(f"{i['internal_api']}: {i['num_threads']}" for i in threadpool_info())
    except ImportError:
        env = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if k in os.environ}
        return f"cores: {os.cpu_count()}, env: {env or 'unset (OpenBLAS uses every core)'}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30, help="timed runs per workload (min 20)")
    ap.add_argument("--beta", type=float, default=BETA)
    args = ap.parse_args()
    runs = max(args.runs, 20)

    print(f"numpy {np.__version__}; BLAS: {blas_summary()}")
    print(f"threads: {threads()}")
    print(f"one step, float32, beta={args.beta}, median of {runs} runs after warm-up")
    print(f"{'B':>5} {'N':>7} {'d':>4} | {'median ms':>10} {'min ms':>8} {'max ms':>8} {'IQR ms':>8} | {'GFLOP/s':>8}")
    rng = np.random.default_rng(0)
    for b, n, d in WORKLOADS:
        # Scaled like the bench's data so beta*scores stay O(1): nothing saturates either side.
        x = (rng.standard_normal((n, d)) / np.sqrt(d)).astype(np.float32)
        q = (rng.standard_normal((b, d)) / np.sqrt(d)).astype(np.float32)
        beta = np.float32(args.beta)
        for _ in range(5):
            out = retrieve(q, x, beta)
        assert out.dtype == np.float32 and out.shape == (b, d)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            retrieve(q, x, beta)
            times.append((time.perf_counter() - t0) * 1e3)
        med = statistics.median(times)
        qs = statistics.quantiles(times, n=4)
        gflops = 4 * b * n * d / (med * 1e-3) / 1e9
        print(
            f"{b:>5} {n:>7} {d:>4} | {med:>10.3f} {min(times):>8.3f} {max(times):>8.3f} "
            f"{qs[2] - qs[0]:>8.3f} | {gflops:>8.1f}"
        )


if __name__ == "__main__":
    main()
