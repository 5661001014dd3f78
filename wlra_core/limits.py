"""Size caps: what one file and one problem may hold, checked before anything is allocated.

A shared server runs many sessions in one process, so no single input may take its memory. Three
caps, each with the reason for its value:

* ``MAX_FILE_BYTES`` (50 MiB): the largest file a loader reads. ``.streamlit/config.toml`` sets
  Streamlit's upload limit (``server.maxUploadSize``, in MB of 2**20 bytes) to the same number,
  and a test keeps the two equal. MovieLens 1M's ``ratings.dat`` (about 24 MB) fits. The read
  itself stops one byte past the cap, whatever size the file reports (devices, pipes and /proc
  files report 0; only regular files are opened by path).
* ``MAX_ENTRIES`` (2**25, about 33.5 million): the entries of one problem, counted as n·m for a
  dense problem and nnz(W) for a sparse one, and also (n + m)·k for the factors. At 40 bytes per
  weighted entry the sparse layout of the largest problem is 1.3 GB; a dense one is 268 MB per
  float64 matrix. ``solve``/``iterate`` take ``max_entries`` to raise or lower it. The loaders
  apply it to what a file's header declares, before allocating: a sparse file counts
  max(nnz, n + m), the smallest problem (k = 1) it can make, so a few bytes declaring a
  10⁸ × 10⁸ matrix are refused (its CSR row pointers alone take 0.4 to 0.8 GB).
* ``MAX_IMAGE_PIXELS`` (2**25): the largest image decoded, checked from the file's header
  before decoding (below Pillow's own decompression-bomb limit, which is also respected and never
  disabled). A 33-megapixel RGBA image decodes to 134 MB of bytes.

The app uses stricter per-problem caps of its own (ui/state.py, APP_MAX_ENTRIES) and says so on the page.
"""
from __future__ import annotations

MAX_FILE_MB = 50
MAX_FILE_BYTES = MAX_FILE_MB * 2**20
MAX_ENTRIES = 2**25
MAX_IMAGE_PIXELS = 2**25


def problem_entries(n: int, m: int, nnz: int | None, k: int) -> tuple[int, str]:
    """The count the per-problem cap applies to, and a phrase naming it for messages."""
    factors = (n + m) * k
    if nnz is None:
        data = n * m
        what = f"a dense {n:,}×{m:,} problem ({data:,} entries)"
    else:
        data = nnz
        what = f"a sparse {n:,}×{m:,} problem with {nnz:,} weighted entries"
    if factors > data:
        return factors, f"{what} whose rank-{k} factors hold (n + m)·k = {factors:,} entries"
    return data, what
