"""Cold start: `import wlra_core` and the first `wc.solve` with an empty numba cache, then a warm one.

Every measurement runs in a fresh subprocess (this interpreter, cwd a temporary directory,
PYTHONPATH the checkout), so nothing is imported or compiled beforehand. For each problem and
solver:

1. *cold*: NUMBA_CACHE_DIR is a fresh empty directory, so every kernel the solve needs compiles;
2. *warm*: a second process with the same NUMBA_CACHE_DIR, so the kernels load from the cache.

numba's cache normally lives in `__pycache__` beside wlra_core/solvers/kernels.py (or in the
user's cache directory when that is read-only); NUMBA_CACHE_DIR redirects it, which is what makes
"empty" possible without touching the checkout.

In each process: the time of `import wlra_core` (it does not import numba: the solvers and their
kernels load on the first solve), the time of the first `wc.solve(..., max_iter=1)` call (the
initialisation and one alternating iteration, kernel compilation or cache loading included), the
first iteration alone (`history[0].seconds`) and, for reference, a second identical call in the
same process (everything compiled and loaded). Problems (seeded): a dense 170×768 picture-like
matrix with Bernoulli(0.75) 0/1 weights, k = 12 (the app's inpainting size), and a sparse
943×1682 csr one with 100 000 ratings in 1..5 (MovieLens-100k's shape), k = 10.

    .venv/bin/python benchmarks/cold_start.py                       # everything: ~4-5 min of one core
    .venv/bin/python benchmarks/cold_start.py --problems dense      # ~2 min
    .venv/bin/python benchmarks/cold_start.py --problems sparse --append

Writes the table to results/cold_start.md (--out elsewhere; --append adds a section to it instead
of replacing it, for a run split into smaller ones) and prints it.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from machine import cpu, usable_cores

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PROBLEMS = ("dense", "sparse")
SOLVERS = ("exact", "sketched", "cg", "auto")
DESCRIPTION = {
    "dense": "dense 170×768, k=12",
    "sparse": "sparse 943×1682, 100 000 entries, k=10",
}

CHILD = r'''
import json, sys, time, warnings
t0 = time.perf_counter()
import wlra_core as wc
t_import = time.perf_counter() - t0
numba_at_import = "numba" in sys.modules
import numpy as np
import scipy.sparse as sp

problem, solver = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(20261204)
if problem == "dense":
    n, m, k = 170, 768, 12
    t = np.linspace(0, 1, n)[:, None] * np.arange(1, k + 1)
    s = np.linspace(0, 1, m)[:, None] * np.arange(1, k + 1)
    U = np.cos(np.pi * t) * rng.uniform(0.5, 1, k)
    V = np.cos(np.pi * s) * rng.uniform(0.5, 1, k) / k
    M = np.clip(0.5 + 0.4 * (U @ V.T) + 0.02 * rng.standard_normal((n, m)), 0, 1)
    W = (rng.random((n, m)) < 0.75).astype(float)
else:
    n, m, k, nnz = 943, 1682, 10, 100_000
    flat = np.sort(rng.choice(n * m, nnz, replace=False))
    r, c = flat // m, flat % m
    truth = rng.standard_normal((n, 3)) @ rng.standard_normal((3, m))
    vals = np.clip(np.rint(3.5 + truth[r, c] + 0.5 * rng.standard_normal(nnz)), 1, 5)
    M = sp.csr_array((vals, (r, c)), shape=(n, m))
    W = sp.csr_array((np.ones(nnz), (r, c)), shape=(n, m))

def run():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # max_iter=1 warns (ConvergenceWarning)
        t = time.perf_counter()
        res = wc.solve(M, W, k, solver=solver, max_iter=1, seed=0)
        return time.perf_counter() - t, res

first, res = run()
second, res2 = run()
import numba
assert res.objective == res2.objective
print(json.dumps({
    "import": t_import, "numba_at_import": numba_at_import, "first": first,
    "first_iteration": res.history[0].seconds, "second": second, "objective": res.objective,
    "choice": str(dict(res.history[0].inner).get("choice", "")), "cache_dir": numba.config.CACHE_DIR,
    "threads": numba.get_num_threads(), "threading_layer": numba.threading_layer(),
}))
'''


def kernel_names(files):
    """The kernels in a set of cache files (`kernels.<name>-<line>.py311.nbi` and their .nbc data)."""
    names = {os.path.basename(f).split("-")[0].split(".", 1)[-1] for f, _ in files if f.endswith(".nbi")}
    return ", ".join(sorted(names)) or "none"


def cache_files(path):
    out = set()
    for root, _, files in os.walk(path):
        for f in files:
            full = os.path.join(root, f)
            out.add((os.path.relpath(full, path), os.stat(full).st_mtime_ns))
    return out


def child(problem, solver, cache_dir, workdir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=REPO)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, problem, solver], env=env, cwd=workdir,
                          capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{problem}/{solver} failed:\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process"] = wall
    return out


def machine():
    return f"{cpu()}, {usable_cores()} usable cores of {os.cpu_count()}, {platform.system()} {platform.release()}"


def versions():
    out = subprocess.run([sys.executable, "-c", "import numba, numpy, scipy, llvmlite, platform; print("
                          "f'Python {platform.python_version()}, numba {numba.__version__}, llvmlite "
                          "{llvmlite.__version__}, numpy {numpy.__version__}, scipy {scipy.__version__}')"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def git_state():
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "wlra_core"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + (" (wlra_core/ has uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def fmt(x):
    return f"{x:.2f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--solvers", default=",".join(SOLVERS))
    ap.add_argument("--out", default=os.path.join(HERE, "results", "cold_start.md"))
    ap.add_argument("--append", action="store_true", help="add a section to --out instead of replacing it")
    args = ap.parse_args(argv)
    problems = [p for p in args.problems.split(",") if p]
    solvers = [s for s in args.solvers.split(",") if s]
    bad = [p for p in problems if p not in PROBLEMS] + [s for s in solvers if s not in SOLVERS]
    if bad:
        ap.error(f"unknown problem or solver: {bad}")

    load_before = "%.2f %.2f %.2f" % os.getloadavg()
    started = _dt.datetime.now().astimezone()
    rows, imports = [], {"cold": [], "warm": []}
    info = {}
    root = tempfile.mkdtemp(prefix="wlra_cold_start_")
    try:
        for problem in problems:
            for solver in solvers:
                cache = os.path.join(root, f"cache_{problem}_{solver}")
                os.mkdir(cache)
                work = os.path.join(root, f"cwd_{problem}_{solver}")
                os.mkdir(work)
                print(f"{problem}/{solver}: cold ...", file=sys.stderr, flush=True)
                cold = child(problem, solver, cache, work)
                written = cache_files(cache)
                print(f"{problem}/{solver}: warm ...", file=sys.stderr, flush=True)
                warm = child(problem, solver, cache, work)
                rewritten = cache_files(cache) - written
                assert cold["cache_dir"] == cache == warm["cache_dir"]
                assert cold["objective"] == warm["objective"], "cached kernels gave another result"
                imports["cold"].append(cold["import"])
                imports["warm"].append(warm["import"])
                info = {k: cold[k] for k in ("threads", "threading_layer", "numba_at_import")}
                rows.append((problem, solver, cold, warm, written, rewritten))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    load_after = "%.2f %.2f %.2f" % os.getloadavg()

    table = [
        "| what | cold: empty cache (s) | warm: cached (s) | cold − warm (s) | 2nd call, same process (s) "
        "| 1st iteration cold / warm (s) | cache files written (cold / warm) | kernels compiled | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
        f"| `import wlra_core` (median of {len(imports['cold'])} processes each) | {fmt(statistics.median(imports['cold']))} "
        f"| {fmt(statistics.median(imports['warm']))} | – | – | – | – | – | numba imported by it: "
        f"{'yes' if info.get('numba_at_import') else 'no'} |",
    ]
    for problem, solver, cold, warm, written, rewritten in rows:
        note = f"auto chose {cold['choice']}" if cold["choice"] else ""
        table.append(
            f"| first `solve` {DESCRIPTION[problem]}, `{solver}`, max_iter=1 | {fmt(cold['first'])} | {fmt(warm['first'])} "
            f"| {fmt(cold['first'] - warm['first'])} | {fmt(warm['second'])} "
            f"| {fmt(cold['first_iteration'])} / {fmt(warm['first_iteration'])} | {len(written)} / {len(rewritten)} "
            f"| {kernel_names(written)} | {note} |")
    table.append(
        "| whole process (interpreter start, import, problem, two solves), sum over all | "
        f"{fmt(sum(r[2]['process'] for r in rows))} | {fmt(sum(r[3]['process'] for r in rows))} | "
        f"{fmt(sum(r[2]['process'] - r[3]['process'] for r in rows))} | – | – | – | | |")

    command = "python " + " ".join([os.path.relpath(os.path.abspath(__file__), REPO)] + (argv if argv is not None else sys.argv[1:]))
    title = "# Cold start: import and first solve, with an empty and a warm numba cache"
    header = [
        f"## {', '.join(DESCRIPTION[p] for p in problems)}; solvers {', '.join(solvers)}",
        "",
        f"Measured by `benchmarks/cold_start.py` on {started.strftime('%Y-%m-%d %H:%M %Z')}: `{command}`.",
        "",
        f"- Machine: {machine()}; shared with other work (load average {load_before} before, "
        f"{load_after} after); niceness {os.nice(0)}.",
        f"- Versions: {versions()}; numba threading layer {info.get('threading_layer', '?')}, "
        f"{info.get('threads', '?')} threads. Checkout: {git_state()}.",
        "- Method: every number is from a fresh subprocess (cwd a temporary directory, PYTHONPATH the "
        "checkout). *cold*: NUMBA_CACHE_DIR a fresh empty directory, so the kernels compile; "
        "*warm*: a second process with the same directory, so they load from the cache. "
        "The first `solve` call includes importing the solvers and numba (lazy: `import wlra_core` "
        "does not import numba), initialisation (svd) and one iteration; '2nd call' is the same call "
        "again in the warm process. 'cache files written (warm)' counts files the warm process "
        "wrote or rewrote: 0 means every kernel came from the cache.",
        "- One run, on a noisy shared machine: read the differences, not the last digit.",
        "",
    ]
    text = "\n".join(header + table) + "\n"
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if args.append and os.path.exists(args.out):
        with open(args.out, "a") as handle:
            handle.write("\n" + text)
    else:
        with open(args.out, "w") as handle:
            handle.write(title + "\n\n" + text)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
