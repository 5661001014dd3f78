"""Before/after of the solver engine in one run: the same problems solved by this checkout and by
an older one (``--baseline DIR``, e.g. ``git archive <commit> | tar -x -C DIR``), case by case in
fresh processes, alternating which goes first, with one BLAS and one numba thread.

Per iteration it reports the wall time and the CPU time (``time.process_time``, every thread of
the process): on a machine shared with other work the wall time grows with the load, the CPU
time much less, so the ratios are given for both. Medians over the iterations after the first
(which includes the initialisation). Cases:

* ``app170x768`` (k = 12), ``app256x256`` (k = 20): benchmarks/solvers.py's app cases (dense 0/1
  weights, image values), exact, sketched (rownorm), cg, auto;
* ``ml100k`` (943 x 1682, k = 10), ``ml1m`` (6 040 x 3 706, k = 32): benchmarks/peers.py's
  MovieLens-shaped problems (centred ratings, ridge 5), exact, cg, auto;
* ``dense1536`` (k = 128), ``dense2048`` (k = 128): bounded weights, exact only, against its Gram
  product alone as solvers.py times it (P(Y) = the row-wise packed outer products built by
  numpy, then W @ P(Y) and Wᵀ @ P(X); min of 3) and, in brackets, against the bare products
  into a preallocated array (the stricter floor).

Writes ``results/solvers_ab.md`` and ``.csv``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CHILD = r"""
import json, math, statistics, sys, time, warnings
tree, bench, case, solver, iters = sys.argv[1:6]
iters = int(iters)
sys.path.insert(0, tree)
sys.path.insert(0, bench)
import numba, numpy as np
from threadpoolctl import threadpool_limits
import wlra_core as wc
numba.set_num_threads(1)
out = {}
if case.startswith("app"):
    import solvers as B
    n, m, k = {"app170x768": (170, 768, 12), "app256x256": (256, 256, 20)}[case]
    pat = B.binary_pattern(n, m, 0.75, np.random.default_rng(0), "app")
    M, W = B.planted(pat, k, 0, values="image")
    opts = dict(eps=1e-8, seed=0)
elif case.startswith("ml"):
    import peers as P
    c = P.CASES[{"ml100k": "100k", "ml1m": "1m"}[case]]
    prob = P.build(case, c, 0, False)
    M = P.train_csr(prob, prob.train_r - float(prob.train_r.mean()))
    W = P.train_csr(prob, np.ones(prob.train_r.size))
    k = c.k
    opts = dict(eps=1e-10, ridge=5.0, seed=0)
else:
    import solvers as B
    n, k = {"dense1536": (1536, 128), "dense2048": (2048, 128)}[case]
    M, W = B.planted(B.bounded_pattern(n, n, 0.5, np.random.default_rng(0)), k, 0)
    opts = dict(eps=1e-12, seed=0)
with threadpool_limits(1), warnings.catch_warnings():
    warnings.simplefilter("ignore")
    if case.startswith("dense"):
        # solvers.py's "Gram product alone" (time_gram): P(Y) built by numpy, W @ P, for both
        # half-steps; and the bare products into a preallocated P (the stricter floor)
        Y = np.linalg.qr(np.random.default_rng(1).standard_normal((W.shape[1], k)))[0]
        X = np.linalg.qr(np.random.default_rng(2).standard_normal((W.shape[0], k)))[0]
        a, b = np.triu_indices(k)
        res = np.empty((W.shape[0], a.size))
        floors, bare = [], []
        for _ in range(3):
            c0 = time.process_time()
            for A, F in ((W, Y), (W.T, X)):
                A @ (F[:, a] * F[:, b])
            floors.append(time.process_time() - c0)
            PY, PX = Y[:, a] * Y[:, b], X[:, a] * X[:, b]
            c0 = time.process_time()
            np.matmul(W, PY, out=res)
            np.matmul(W.T, PX, out=res)
            bare.append(time.process_time() - c0)
        out["gram_cpu"] = min(floors)
        out["bare_cpu"] = min(bare)
    for warm in (True, False):        # a short untimed run first: compilation, caches
        wall, cpu, inner = [], [], []
        steps = wc.iterate(M, W, k, solver=solver, max_iter=2 if warm else iters, **opts)
        t, c = time.perf_counter(), time.process_time()
        for st in steps:
            t2, c2 = time.perf_counter(), time.process_time()
            if st.iteration > 1:
                wall.append(t2 - t)
                cpu.append(c2 - c)
                inner.append(float(st.inner.get("inner_iterations") or 0.0))
            choice = st.inner.get("choice")
            t, c = time.perf_counter(), time.process_time()
    out.update(wall=statistics.median(wall), cpu=statistics.median(cpu), iterations=len(wall) + 1,
               inner=statistics.mean(inner), choice=None if choice is None else "/".join(choice),
               objective=float(st.relative_objective))
print("RESULT " + json.dumps(out))
"""

CASES = {
    "app170x768": ("exact", "sketched", "cg", "auto"),
    "app256x256": ("exact", "sketched", "cg", "auto"),
    "ml100k": ("exact", "cg", "auto"),
    "ml1m": ("exact", "cg", "auto"),
    "dense1536": ("exact",),
    "dense2048": ("exact",),
}
ITERS = {"app170x768": 16, "app256x256": 16, "ml100k": 10, "ml1m": 5, "dense1536": 3, "dense2048": 3}


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def child(tree: str, case: str, solver: str, iters: int) -> dict:
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, tree, os.path.join(tree, "benchmarks"), case,
                           solver, str(iters)], env=env, capture_output=True, text=True, cwd=tree)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"{case}/{solver} in {tree} failed:\n{proc.stderr[-2000:]}")
    return json.loads(line[len("RESULT "):])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="an older checkout of the project")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--label", default="", help="what the baseline is (for the header)")
    parser.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    start = time.time()
    rows = []
    load_start = load()
    for i, case in enumerate(args.cases.split(",")):
        for j, solver in enumerate(CASES[case]):
            trees = [("before", args.baseline), ("after", ROOT)]
            if (i + j) % 2:
                trees.reverse()
            got = {}
            for name, tree in trees:
                got[name] = child(tree, case, solver, ITERS[case])
                got[name]["load"] = load()
            rows.append((case, solver, got["before"], got["after"]))
            b, a = got["before"], got["after"]
            print(f"{case:10s} {solver:8s} cpu {b['cpu'] * 1e3:9.2f} -> {a['cpu'] * 1e3:9.2f} ms   "
                  f"wall {b['wall'] * 1e3:9.2f} -> {a['wall'] * 1e3:9.2f} ms   load {a['load']}", flush=True)
    lines = [
        "# Solver engine: before/after per iteration (one run)",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(start))}; {(time.time() - start) / 60:.1f} min",
        f"- load average (1, 5, 15 min): {load_start} at the start, {load()} at the end (2 cores)",
        f"- before: {args.label or args.baseline}; after: this checkout",
        "- one BLAS thread and one numba thread; each cell a fresh process (an untimed 2-iteration run "
        "first); median over the iterations after the first; CPU = time.process_time",
        f"- command: `python benchmarks/solvers_ab.py --baseline ... --cases {args.cases}`",
        "",
        "| case | solver | CPU ms/iter before | after | after/before | wall ms/iter before | after | "
        "× exact (CPU, after) | inner it. (after) | auto chose | × Gram (CPU, before → after; bare products) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    exact_cpu = {case: a["cpu"] for case, solver, _, a in rows if solver == "exact"}
    csv = ["case,solver,cpu_before_s,cpu_after_s,wall_before_s,wall_after_s,gram_before_s,gram_after_s,"
           "inner_after,choice_after,load_after"]
    for case, solver, b, a in rows:
        gram = (f"{b['cpu'] / b['gram_cpu']:.2f} → {a['cpu'] / a['gram_cpu']:.2f} "
                f"({b['cpu'] / b['bare_cpu']:.2f} → {a['cpu'] / a['bare_cpu']:.2f})"
                if "gram_cpu" in a else "-")
        lines.append(
            f"| {case} | {solver} | {b['cpu'] * 1e3:.3g} | {a['cpu'] * 1e3:.3g} | {a['cpu'] / b['cpu']:.2f} | "
            f"{b['wall'] * 1e3:.3g} | {a['wall'] * 1e3:.3g} | {a['cpu'] / exact_cpu[case]:.2f} | "
            f"{a['inner']:.2g} | {a['choice'] or '-'} | {gram} |")
        csv.append(",".join(str(v) for v in (case, solver, b["cpu"], a["cpu"], b["wall"], a["wall"],
                                             b.get("gram_cpu", ""), a.get("gram_cpu", ""), a["inner"],
                                             a["choice"] or "", a["load"].replace(" ", "/"))))
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "solvers_ab.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out_dir, "solvers_ab.csv"), "w") as f:
        f.write("\n".join(csv) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
