"""What the results files share: the machine in their headers (processor, usable cores, BLAS)
and the CSV writer."""
from __future__ import annotations

import csv
import math
import os
import platform


def cpu() -> str:
    name = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as handle:
            name = next((line.split(":", 1)[1].strip() for line in handle
                         if line.startswith("model name")), name)
    except OSError:
        pass
    return name


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def blas(owners=("numpy", "scipy")) -> str:
    """Each BLAS that threadpoolctl sees, named after the package that ships it."""
    from threadpoolctl import threadpool_info

    def owner(path: str) -> str:
        return next((name for name in owners if f"{name}.libs" in path
                     or f"{os.sep}{name}{os.sep}" in path), "other")

    found = [f"{owner(i.get('filepath', ''))}: {i.get('internal_api')} {i.get('version')} "
             f"({i.get('num_threads')} threads, {i.get('architecture', '?')})"
             for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(found) or "none found"


def write_csv(path: str, rows: list, fields) -> None:
    """The rows' `fields` as CSV: missing and non-finite values empty, lists joined by ';'."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            clean = {}
            for key in fields:
                value = row.get(key)
                if isinstance(value, list):
                    value = ";".join(f"{v:.6g}" for v in value)
                clean[key] = "" if value is None or (isinstance(value, float)
                                                     and not math.isfinite(value)) else value
            writer.writerow(clean)


def version(module: str) -> str:
    """A package's version, or "not installed" (peers live only in the benchmark venv)."""
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001 (an import can fail in many ways)
        return "not installed"
