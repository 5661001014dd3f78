"""What the results headers say about the machine: the processor, the usable cores, the BLAS."""
from __future__ import annotations

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
