"""The comparison explained: where each solver's operations go, whether the sketch was used at
all, and a one-line reading computed from the numbers shown."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ui.models.lab.measurements import _secs

PARTS = ("sketch", "factorisation", "inner iterations", "exact rows")
# Step.inner's timed part of each of PARTS (seconds, both half-steps of an iteration)
PART_KEYS = {"sketch": "sketch_seconds", "factorisation": "factor_seconds", "inner iterations": "inner_seconds",
             "exact rows": "exact_seconds"}
BYPASS_SHARE = 0.5     # above this share of rows solved exactly, "sketched" is mostly the exact solver


def row_counts(W) -> tuple[np.ndarray, np.ndarray]:
    """Weighted entries N_i of every row and every column: the regressions of the two half-steps.
    Dense W: every entry takes part in the products (wlra_core.cost), so n and m."""
    n, m = W.shape
    if hasattr(W, "getnnz"):
        return np.asarray(W.getnnz(axis=1), dtype=float), np.asarray(W.getnnz(axis=0), dtype=float)
    return np.full(n, float(m)), np.full(m, float(n))


def cost_parts(solver: str, counts, k: int, sketch_size, inner_iterations, fresh: float = 1.0) -> dict:
    """Operations of one iteration per part (wlra_core.cost's model, with the inner iterations T
    measured): the sketched Gram s·k² of long rows, k³/3 per factorised row, 4·T·N_i·k per
    iteratively solved row, N_i·k² per row solved exactly. `fresh`: the share of the long rows
    sketched in an iteration (the others reuse a kept preconditioner). None for em (one SVD, no
    rows)."""
    T = 0.0 if inner_iterations is None or math.isnan(inner_iterations) else float(inner_iterations)
    out = dict.fromkeys(PARTS, 0.0)
    for N in counts:
        N = np.asarray(N, dtype=float)
        if solver == "exact":
            exact = np.ones(len(N), bool)
        elif solver == "sketched":
            exact = N <= (sketch_size or 4 * k)
            out["sketch"] += fresh * float((~exact).sum()) * (sketch_size or 4 * k) * k * k
            out["factorisation"] += fresh * float((~exact).sum()) * k ** 3 / 3
        elif solver == "cg":
            exact = N < k
        else:
            return None
        out["exact rows"] += float(N[exact].sum()) * k * k + float(exact.sum()) * k ** 3 / 3
        out["inner iterations"] += 4.0 * T * float(N[~exact].sum()) * k
    return out


def _last(records, key):
    values = [r.get(key) for r in records if r.get(key) is not None and not _isnan(r.get(key))]
    return float(values[-1]) if values else math.nan


def _mean(records, key):
    values = [float(r[key]) for r in records if r.get(key) is not None and not _isnan(r.get(key))]
    return float(np.mean(values)) if values else math.nan


def _isnan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def breakdown(histories: dict, W, k: int, sketch_size=None) -> pd.DataFrame:
    """Per solver: its median time per iteration with the spread over iterations (min, max), the
    share of rows it solved exactly, its mean inner iterations, the share of its operations in
    each part of PARTS (cost_parts with its measured inner iterations) and the milliseconds per
    iteration its timers measured in each part (NaN where the records have no timers: em).""" 
    counts = row_counts(W)
    rows_total = float(sum(len(c) for c in counts))
    out = []
    for name, records in histories.items():
        if not records:
            continue
        seconds = np.array([r["seconds"] for r in records], dtype=float)
        s = _last(records, "sketch_size")
        s = int(s) if not math.isnan(s) else (sketch_size or 4 * k)
        T = _mean(records, "inner_iterations")
        iterative = _mean(records, "iterative_rows")
        reused = _mean(records, "reused_rows") / iterative if iterative > 0 else 0.0
        reused = 0.0 if math.isnan(reused) else reused
        parts = cost_parts(name, counts, k, s, T, fresh=1.0 - reused)
        exact = _mean(records, "exact_rows")
        if name == "exact":
            exact = rows_total
        row = {"solver": name, "iterations": len(records),
               "median s / iteration": float(np.median(seconds)),
               "fastest s": float(seconds.min()), "slowest s": float(seconds.max()),
               "rows solved exactly %": 100.0 * exact / rows_total if not math.isnan(exact) else math.nan,
               "inner iterations": T if name in ("sketched", "cg") else math.nan,
               "sketch size s": s if name == "sketched" else math.nan,
               "preconditioners reused %": 100.0 * reused if name == "sketched" else math.nan}
        total = sum(parts.values()) if parts else 0.0
        row["operations"] = total if parts else math.nan
        for part in PARTS:
            row[f"{part} %"] = 100.0 * parts[part] / total if total else math.nan
        for part in PARTS:   # measured: the solver's own timers, mean per iteration
            row[f"{part} ms"] = 1000.0 * _mean(records, PART_KEYS[part])
        out.append(row)
    return pd.DataFrame(out)


def bypass_note(table: pd.DataFrame) -> str | None:
    """The note shown when the sketched solver solved most rows exactly (N_i ≤ s): it then times
    the exact solver with some overhead, not the sketch."""
    row = table[table["solver"] == "sketched"] if "solver" in table else table.iloc[0:0]
    if row.empty:
        return None
    share = float(row["rows solved exactly %"].iloc[0])
    if math.isnan(share) or share <= 100 * BYPASS_SHARE:
        return None
    return (f"The sketch is bypassed for {share:.0f}% of the rows: a row with no more weighted entries "
            f"than the sketch (s = {int(row['sketch size s'].iloc[0])}) is solved exactly, so here "
            "\"sketched\" is mostly the exact solver. Use longer rows (more columns, a larger observed "
            "fraction) or a smaller k to see the sketch at work.")


def reading(table: pd.DataFrame, W, k: int, fast: str = "sketched", reference: str = "exact") -> str | None:
    """One line on `fast` against `reference`, computed from `table` (breakdown's) and the
    problem's row lengths: the ratio of median times per iteration, and why."""
    by = table.set_index("solver") if "solver" in table else None
    if by is None or fast not in by.index or reference not in by.index:
        return None
    a, b = float(by.at[fast, "median s / iteration"]), float(by.at[reference, "median s / iteration"])
    if not (a > 0 and b > 0):
        return None
    ratio = a / b
    head = (f"{fast} is {ratio:.1f}× slower per iteration than {reference} here" if ratio >= 1 else
            f"{fast} is {1 / ratio:.1f}× faster per iteration than {reference} here")
    head += f" (median {_secs(a)} against {_secs(b)})"
    if fast != "sketched":
        return head + "."
    if reference == "cg":
        T, T_cg = float(by.at[fast, "inner iterations"]), float(by.at[reference, "inner iterations"])
        if T < T_cg:
            return (f"{head}: preconditioned by the sketch it needs {T:.1f} inner iterations per row against "
                    f"{T_cg:.1f} for plain CG, at the price of the sketch and a factorisation per row.")
        return (f"{head}: it needs {T:.1f} inner iterations per row, plain CG {T_cg:.1f}: the rows are well "
                "conditioned and the preconditioner has nothing to fix.")
    counts = row_counts(W)
    N = float(np.mean(np.concatenate(counts)))
    s = int(by.at[fast, "sketch size s"]) if not math.isnan(by.at[fast, "sketch size s"]) else 4 * k
    T = float(by.at[fast, "inner iterations"])
    exact_share = float(by.at[fast, "rows solved exactly %"])
    ops = float(by.at[fast, "operations"]) / float(by.at[reference, "operations"])
    reused = float(by.at[fast, "preconditioners reused %"]) if "preconditioners reused %" in by else math.nan
    model = f"cost model with its measured {T:.1f} inner iterations per row" + (
        f" and {reused:.0f}% of its preconditioners reused from an earlier iteration"
        if reused > 0 else "")
    if not math.isnan(exact_share) and exact_share > 100 * BYPASS_SHARE:
        why = (f"{exact_share:.0f}% of its rows are no longer than the sketch (s = {s}) and are solved "
               "exactly, so the sketch is bypassed" +
               (" and it pays the exact cost plus its own overhead" if ratio >= 1 else
                ": the difference lies in how the two codes solve those short rows, not in the sketch"))
    elif ratio >= 1 and ops >= 1:
        why = (f"it does {ops:.1f}× the operations of {reference} ({model}): rows of N ≈ {N:.0f} entries, "
               f"N/s = {N / s:.1f} with s = {s}, at k = {k} are below the regime where the sketch pays "
               "(rows many times longer than s = 4k, and k large); see the presets")
    elif ratio >= 1:
        why = (f"it does {1 / ops:.1f}× fewer operations than {reference} ({model}) but runs them more slowly: "
               f"at N ≈ {N:.0f}, k = {k} the exact solver's batched products are the more efficient code")
    elif ops < 1:
        why = (f"it does {1 / ops:.1f}× fewer operations ({model}): rows of N ≈ {N:.0f} entries, "
               f"{N / s:.1f}× the sketch s = {s}, at k = {k}, the regime where the sketch pays")
    else:
        why = (f"although it does {ops:.1f}× the operations of {reference} ({model}): its code runs faster "
               "at this size")
    return f"{head}: {why}."
