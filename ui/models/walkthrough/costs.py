"""How it works, what an iteration costs: the engine's cost model against the benchmark results,
and the link that opens the same example in the solver lab."""
from __future__ import annotations

import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd

import wlra_core as wc

# --- what an iteration costs: the engine's cost model --------------------------------------------

CALC_SOLVERS = ("exact", "sketched", "cg")


def complexity(n: int, m: int, k: int, s: int, T: float, T_cg: float, density: float = 1.0) -> pd.DataFrame:
    """Flops of one alternating iteration (both half-steps) per solver, from wlra_core's own cost
    model (wlra_core.cost.row_flops), every row with density·m (X-side) or density·n (Y-side)
    weighted entries; T inner iterations for sketched, T_cg for cg. Columns: solver, gram, factor,
    inner, total, seconds (total / wlra_core.cost.RATE, the dense calibration)."""
    rows = []
    sides = (np.full(n, max(1.0, density * m)), np.full(m, max(1.0, density * n)))
    for solver in CALC_SOLVERS:
        T_solver = {"sketched": T, "cg": T_cg}.get(solver, 0.0)
        parts = {"gram": 0.0, "factor": 0.0, "inner": 0.0}
        for N in sides:
            for name, value in wc.cost.row_flops(solver, N, k, s, T_solver).items():
                parts[name] += value
        total = sum(parts.values())
        rows.append({"solver": solver, **parts, "total": total, "seconds": total / wc.cost.RATE})
    return pd.DataFrame(rows)


def complexity_curve(n: int, m: int, s_per_k: float, T: float, T_cg: float, density: float = 1.0,
                     ks=None) -> pd.DataFrame:
    """`complexity` over a range of k (s = s_per_k·k): columns k, solver, total, ratio (to exact)."""
    if ks is None:
        ks = np.unique(np.geomspace(1, max(2, min(n, m)), 40).round().astype(int))
    frames = []
    for k in ks:
        c = complexity(n, m, int(k), max(int(k), int(round(s_per_k * k))), T, T_cg, density)
        c["ratio"] = c["total"] / float(c.loc[c["solver"] == "exact", "total"].iloc[0])
        c["k"] = int(k)
        frames.append(c[["k", "solver", "total", "ratio"]])
    return pd.concat(frames, ignore_index=True)


def model_crossover(curve: pd.DataFrame, solver: str = "sketched"):
    """The k range where `solver` needs fewer flops than exact: (first k, last k) of the curve, or
    None if it never does. (At large k the sketch is no shorter than the rows, s ≥ N_i, and
    sketched falls back to exact: the range closes again.)"""
    d = curve[curve["solver"] == solver].sort_values("k")
    cheaper = d.loc[d["ratio"] < 1.0, "k"]
    return None if cheaper.empty else (int(cheaper.iloc[0]), int(cheaper.iloc[-1]))


RESULTS = Path(__file__).resolve().parents[3] / "benchmarks" / "results"
# The newest engine measurements with sketched and exact in one run: (csv, where its shapes are).
# A later source replaces an earlier one's ratio for the same case and k: the repeats come after
# the first runs, whose exact was slowed by the machine's load.
MEASURED_SOURCES = (("solvers_large_crossover4096/solvers.csv", None),
                    ("solvers_large_crossover4096_k48/solvers.csv", None),
                    ("solvers_large_crossover4096_k128/solvers.csv", None),
                    ("solvers_large_crossover4096_k96_128/solvers.csv", None),
                    ("solvers_large_crossover4096_k64_repeat/solvers.csv", None),
                    ("solvers_large_dense3072_k128/solvers.csv", None),
                    ("solvers_large_dense3072_k128_repeat/solvers.csv", None),
                    ("solvers_large_dense3072_k256/solvers.csv", None),
                    ("solvers_large_dense3072_k256_repeat/solvers.csv", None),
                    # sketched keeping its preconditioners across iterations (solvers/sketched.py)
                    ("solvers_recycle_crossover4096/solvers.csv", None),
                    ("solvers_recycle_crossover4096_k96_128/solvers.csv", None),
                    ("solvers_recycle_dense3072_k128/solvers.csv", None),
                    ("solvers_recycle_dense3072_k256_final/solvers.csv", None),
                    ("solvers_ab.csv", "solvers_app/solvers.csv"))


def measured_ratios(results: Path = RESULTS) -> pd.DataFrame:
    """sketched / exact time per iteration measured on this project's machine, read from the
    benchmark results (benchmarks/solvers.py and solvers_ab.py): columns case, n, m, k, ratio,
    source, one row per case and k (the last source that measured it). solvers_ab.csv has no
    shapes: they come from the run that defined its app cases."""
    rows = []
    for name, shapes in MEASURED_SOURCES:
        try:
            rows += _measured_rows(results, name, shapes)
        except (OSError, KeyError, ValueError, pd.errors.ParserError):
            continue  # a result file missing or rewritten in another layout: the page shows what it can read
    frame = pd.DataFrame(rows, columns=["case", "n", "m", "k", "ratio", "source"])
    return frame.drop_duplicates(["case", "n", "m", "k"], keep="last").reset_index(drop=True)


def _measured_rows(results: Path, name: str, shapes: str | None) -> list[dict]:
    rows = []
    path = results / name
    if path.exists():
        d = pd.read_csv(path)
        if shapes is None:
            d = d[d["solver"].isin(["exact", "sketched"])]
            t = d.pivot_table(index=["case", "n", "m", "k"], columns="solver", values="s_per_iter").dropna()
        else:
            geometry = pd.read_csv(results / shapes)[["case", "n", "m", "k"]].drop_duplicates("case")
            d = d[d["solver"].isin(["exact", "sketched"])].merge(geometry, on="case")
            t = d.pivot_table(index=["case", "n", "m", "k"], columns="solver", values="cpu_after_s").dropna()
        for (case, n, m, k), r in t.iterrows():
            rows.append({"case": case, "n": int(n), "m": int(m), "k": int(k),
                         "ratio": float(r["sketched"] / r["exact"]), "source": f"benchmarks/results/{name}"})
    return rows


def measured_crossovers(measured: pd.DataFrame) -> list[tuple[int, int, int, int]]:
    """Where the measured ratio crosses 1 for one shape: (n, m, k below, k above) for each pair of
    neighbouring measured k of the same n × m with sketched slower at the first and faster at the
    second."""
    found = []
    for (n, m), d in measured.groupby(["n", "m"]):
        d = d.sort_values("k")
        for (k0, r0), (k1, r1) in zip(zip(d["k"], d["ratio"]), zip(d["k"].iloc[1:], d["ratio"].iloc[1:])):
            if r0 >= 1.0 > r1:
                found.append((int(n), int(m), int(k0), int(k1)))
    return found


# --- the same example in the solver lab ------------------------------------------------------------

def lab_query(k: int, seed: int, kind: str, s: int, n: int = 12, m: int = 60) -> dict[str, str]:
    """Query parameters that open the solver lab (views/solver_lab.py's widget keys) on the planted
    problem closest to this page's: n × m, rank k, noise 0.1, heavy-tailed weights with 80 %
    observed, the same seed, rank k, and this sketch (the lab draws its own weights, so the numbers
    differ)."""
    return {"lab_source": "planted", "lab_n": str(n), "lab_m": str(m), "lab_rank": str(k),
            "lab_noise": "0.1", "lab_pattern": "heavy_tailed", "lab_p": "0.8", "lab_pseed": str(seed),
            "lab_k": str(k), "lab_sketch": kind, "lab_s": str(s)}


def lab_url(k: int, seed: int, kind: str, s: int) -> str:
    """The solver lab's address (relative to this page's) with `lab_query`'s parameters."""
    return "solver_lab?" + urllib.parse.urlencode(lab_query(k, seed, kind, s))


def complexity_reading(table: pd.DataFrame, curve: pd.DataFrame, measured: pd.DataFrame) -> str:
    """One paragraph that reads the calculator's numbers: the ratios at the chosen k, the k range
    where the model favours the sketch, and what was measured on this machine."""
    total = dict(zip(table["solver"], table["total"]))
    text = [f"At these sizes sketched needs {total['sketched'] / total['exact']:.2f}× and cg "
            f"{total['cg'] / total['exact']:.2f}× the flops of exact."]
    window = model_crossover(curve)
    if window is None:
        text.append("The model finds no k where the sketch needs fewer flops than exact for this shape "
                    "(rows too short for s ≪ N_i, or k too small for the factor k to pay for the "
                    "inner iterations).")
    else:
        text.append(f"The model favours the sketch for k from {window[0]} to {window[1]} here "
                    "(beyond that s ≥ N_i and it solves rows exactly).")
    if len(measured):
        points = "; ".join(f"{r.n}×{r.m}, k = {r.k}: {r.ratio:.2f}×" for r in measured.itertuples())
        sources = ", ".join(sorted(set(measured["source"])))
        text.append(f"Measured on this machine (sketched / exact time per iteration, diamonds): {points} "
                    f"({sources}). Below 1 the sketch paid off.")
        for n, m, k0, k1 in measured_crossovers(measured):
            text.append(f"Measured crossover at {n}×{m}: sketched is slower at k = {k0} and faster from "
                        f"k = {k1} (the shaded band).")
    text.append(f"Seconds divide flops by {wc.cost.RATE:.0e} flop/s, the engine's calibration for one core; "
                "measured times also carry memory traffic and overheads the flop count ignores.")
    return " ".join(text)
