"""Inpainting by WLRA (pixel, patch and grouped liftings) against the classical tools.

For every image (the shipped samples in assets/, downsized to 256 and 512 px on the long side)
and every seeded mask drawn by the app's own presets (wlra_core.masks: random dropout 25 % and
50 %, typed text, scratches), in one process, back to back:

1. ``wc.inpaint_steps`` for each contender (lift × solver, the library's defaults otherwise;
   "groups", block matching with one WLRA per group, is ``wc.inpaint``'s default):
   PSNR on the hidden pixels of the reported image (the best step on the held-out pixels), the
   true best PSNR over the steps run and its step, the seconds until the reported best step and
   in all;
2. scikit-image's ``restoration.inpaint_biharmonic`` and OpenCV's ``cv2.inpaint`` (Telea and
   Navier–Stokes, radius 3, on the 8-bit image): PSNR on the hidden pixels and seconds.

A peer whose package is not importable gets a row saying so; the wlra rows run regardless.
``--sweep`` instead varies one default at a time (k, patch, stride, holdout, colour layout) on
the 50 % dropout mask and writes ``results/inpainting_sweep.*``. Writes ``results/inpainting.md``
(header and tables) and ``results/inpainting.csv``; ``--quick`` (one 64 px image, two masks, few
iterations) writes ``results/inpainting_quick.*``.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)  # run from a checkout without installing

from machine import blas as blas_info, cpu, usable_cores, version, write_csv  # noqa: E402
import wlra_core as wc  # noqa: E402

IMAGES = ("camera", "chelsea", "astronaut", "coffee", "plaid")
FILES = {"camera": "camera.png", "chelsea": "chelsea.jpg", "astronaut": "astronaut.jpg",
         "coffee": "coffee.jpg", "plaid": "plaid.png"}
MASKS = {   # the app's presets (wlra_core.masks.preset_hidden keywords)
    "dropout25": dict(dropout=0.25, seed=1),
    "dropout50": dict(dropout=0.5, seed=1),
    "text": dict(text="WLRA\n2026", text_size=0.3),
    "scratches": dict(scratches=12, seed=2),
}
CONTENDERS = (("pixels", "exact"), ("pixels", "auto"), ("patches", "exact"), ("patches", "auto"),
              ("groups", "auto"))
PEERS = ("biharmonic", "telea", "navier-stokes")
FIELDS = ("image", "size", "mask", "hidden_share", "contender", "lift", "solver", "k", "psnr_hidden",
          "best_psnr_hidden", "best_gap_db", "best_step", "true_best_step", "steps", "seconds_to_best",
          "seconds", "stop_reason", "note")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load(name: str, size: int) -> np.ndarray:
    return wc.data.load_image(os.path.join(ROOT, "assets", FILES[name]), max_side=size)


def run_wlra(img, weights, hidden, lift, solver, **options) -> dict:
    """One wc.inpaint_steps run; the PSNR of every step is measured (outside the timed steps)."""
    t0 = time.perf_counter()
    psnrs, best, best_step, seconds_to_best, steps = [], None, 0, math.nan, 0
    timed = 0.0
    for step in wc.inpaint_steps(img, weights, lift=lift, solver=solver, **options):
        timed = time.perf_counter() - t0
        steps += 1
        value = wc.metrics.psnr(img, step.image, mask=hidden)
        psnrs.append(value)
        if step.is_best:
            best, best_step, seconds_to_best = value, steps, timed
        t0 = time.perf_counter() - timed       # leave the measuring out of the clock
    true_best = int(np.argmax(psnrs))
    return {"psnr_hidden": best, "best_psnr_hidden": psnrs[true_best], "best_gap_db": psnrs[true_best] - best,
            "best_step": best_step, "true_best_step": true_best + 1,
            "steps": steps, "seconds_to_best": seconds_to_best, "seconds": timed, "stop_reason": step.stop_reason}


def run_peer(name: str, img, hidden) -> dict:
    try:
        if name == "biharmonic":
            from skimage.restoration import inpaint_biharmonic
            t0 = time.perf_counter()
            out = inpaint_biharmonic(img, hidden, channel_axis=-1 if img.ndim == 3 else None)
        else:
            import cv2
            flag = cv2.INPAINT_TELEA if name == "telea" else cv2.INPAINT_NS
            img8 = np.round(img * 255).astype(np.uint8)
            t0 = time.perf_counter()
            out = cv2.inpaint(img8, hidden.astype(np.uint8), 3, flag).astype(np.float64) / 255.0
    except ImportError as exc:
        return {"note": f"not installed ({exc.name})"}
    seconds = time.perf_counter() - t0
    return {"psnr_hidden": wc.metrics.psnr(img, out, mask=hidden), "seconds": seconds}


def cases(args):
    for name in args.images:
        for size in args.sizes:
            img = load(name, size)
            for mask_name in args.masks:
                hidden = wc.masks.preset_hidden(img.shape[:2], **MASKS[mask_name])
                yield name, size, img, mask_name, hidden


def bench(args) -> list:
    rows = []
    for name, size, img, mask_name, hidden in cases(args):
        weights = (~hidden).astype(np.float64)
        base = {"image": name, "size": size, "mask": mask_name, "hidden_share": float(hidden.mean())}
        log(f"{name} {size} {mask_name}")
        for lift, solver in args.contenders:
            options = {"max_iter": args.max_iter} if args.max_iter else {}
            row = run_wlra(img, weights, hidden, lift, solver, **options)
            k = wc.inpainting.DEFAULTS["k"][lift]
            rows.append({**base, "contender": f"wlra {lift} {solver}", "lift": lift, "solver": solver, "k": k, **row})
        for peer in PEERS:
            rows.append({**base, "contender": peer, **run_peer(peer, img, hidden)})
    return rows


SWEEP = (  # one default changed at a time
    ("defaults", {}),
    ("k=8", {"k": 8}), ("k=16", {"k": 16}), ("k=20", {"k": 20}),
    ("patch=6", {"patch": 6}), ("patch=10", {"patch": 10}),
    ("stride=1", {"stride": 1}), ("stride=3", {"stride": 3}),
    ("ridge=0.3", {"ridge": 0.3}),
    ("prior=0", {"prior": 0.0}), ("prior=0.2", {"prior": 0.2}), ("k=16 prior=0.2", {"k": 16, "prior": 0.2}),
    ("holdout=0.02", {"holdout": 0.02}), ("holdout=0.1", {"holdout": 0.1}),
    ("colour=rows", {"colour": "rows"}),
    ("pixels k=20", {"lift": "pixels", "k": 20}), ("pixels k=40", {"lift": "pixels", "k": 40}),
    ("pixels k=20 ridge=1", {"lift": "pixels", "k": 20, "ridge": 1.0}),
    ("pixels k=40 ridge=1", {"lift": "pixels", "k": 40, "ridge": 1.0}),
    ("groups", {"lift": "groups"}), ("groups k=8", {"lift": "groups", "k": 8}),
    ("groups group_iter=2", {"lift": "groups", "group_iter": 2}),
    ("groups stride=4", {"lift": "groups", "stride": 4}),
    ("groups group_size=60", {"lift": "groups", "group_size": 60}),
    ("groups window=16", {"lift": "groups", "window": 16}),
    ("groups rounds=6", {"lift": "groups", "max_iter": 6}),
)


def sweep(args) -> list:
    rows = []
    for name, size, img, mask_name, hidden in cases(args):
        weights = (~hidden).astype(np.float64)
        base = {"image": name, "size": size, "mask": mask_name, "hidden_share": float(hidden.mean())}
        for label, options in SWEEP:
            if args.labels and label not in args.labels:
                continue
            options = dict(options)
            lift = options.pop("lift", "patches")
            if img.ndim == 2 and "colour" in options:
                continue
            log(f"{name} {size} {mask_name} {label}")
            row = run_wlra(img, weights, hidden, lift, args.solver, **options)
            k = options.get("k", wc.inpainting.DEFAULTS["k"][lift])
            rows.append({**base, "contender": label, "lift": lift, "solver": args.solver, "k": k, **row})
        rows.append({**base, "contender": "biharmonic", **run_peer("biharmonic", img, hidden)})
    return rows


def _num(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def table(rows: list) -> list:
    lines = ["| image | px | mask | contender | k | PSNR hidden (dB) | vs biharmonic (dB) | true best (dB, step) "
             "| reported step | s to best | s total | steps | stop / note |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    reference = {(r["image"], r["size"], r["mask"]): r.get("psnr_hidden") for r in rows if r["contender"] == "biharmonic"}
    for r in rows:
        ref = reference.get((r["image"], r["size"], r["mask"]))
        gain = r["psnr_hidden"] - ref if ref is not None and r.get("psnr_hidden") is not None else None
        true_best = (f"{r['best_psnr_hidden']:.2f} ({r['true_best_step']})" if r.get("best_psnr_hidden") is not None
                     else "-")
        lines.append(
            f"| {r['image']} | {r['size']} | {r['mask']} | {r['contender']} | {r.get('k', '-')} | "
            f"{_num(r.get('psnr_hidden'), '.2f')} | {_num(gain, '+.2f')} | {true_best} | {r.get('best_step', '-')} | "
            f"{_num(r.get('seconds_to_best'), '.2f')} | {_num(r.get('seconds'), '.2f')} | {r.get('steps', '-')} | "
            f"{r.get('stop_reason') or r.get('note') or ''} |")
    return lines



def machine() -> dict:
    return {"date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "cores": f"{usable_cores()} usable cores of {os.cpu_count()} ({cpu()})",
            "blas": blas_info(("numpy", "scipy", "cv2")),
            "load": "%.2f %.2f %.2f" % os.getloadavg()}


def report(rows: list, info: dict, argv: list, seconds: float) -> str:
    worst_gap = max((r["best_gap_db"] for r in rows if r.get("best_gap_db") is not None), default=math.nan)
    lines = [
        "# Inpainting: WLRA liftings against scikit-image and OpenCV", "",
        f"- date: {info['date']}",
        f"- machine: {info['cores']}; BLAS (threadpoolctl): {info['blas']}",
        f"- load average (1, 5, 15 min) at start: {info['load_start']}; at end: {info['load']} "
        "(2 cores shared with other developers' work: seconds are indicative, compare within a row group)",
        f"- versions: wlra_core (this checkout), numpy {version('numpy')}, scikit-image {version('skimage')}, "
        f"opencv {version('cv2')}",
        f"- command: `python benchmarks/inpainting.py {' '.join(argv)}` ({seconds:.0f} s in all)",
        "- PSNR on the hidden pixels; wlra: the image `wc.inpaint` returns (best step on 5 % held-out known "
        "pixels; `wlra groups auto` is `wc.inpaint(image, weights)` with nothing else); true best = the best "
        "step by the hidden truth, which the method cannot see; "
        f"largest gap between them in this run: {_num(worst_gap, '.3f')} dB",
        "- masks (wlra_core.masks.preset_hidden): " + "; ".join(f"{k} {v}" for k, v in MASKS.items()),
        "", *table(rows), ""]
    return "\n".join(lines)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", nargs="+", default=["camera", "chelsea"], choices=IMAGES)
    p.add_argument("--sizes", nargs="+", type=int, default=[256, 512])
    p.add_argument("--masks", nargs="+", default=list(MASKS), choices=list(MASKS))
    p.add_argument("--contenders", nargs="+", default=[f"{l}:{s}" for l, s in CONTENDERS],
                   help="lift:solver pairs")
    p.add_argument("--max-iter", type=int, default=None, help="alternating iterations at most (default: inpaint's)")
    p.add_argument("--sweep", action="store_true", help="vary one default at a time (dropout50 mask)")
    p.add_argument("--solver", default="auto", help="the solver of --sweep")
    p.add_argument("--labels", nargs="+", default=None, help="--sweep: only these rows (e.g. defaults colour=rows)")
    p.add_argument("--quick", action="store_true", help="one 64 px image, two masks, 3 iterations (smoke test)")
    p.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    p.add_argument("--tag", default="", help="write results/inpainting_TAG.* (several runs side by side)")
    args = p.parse_args(argv)
    args.contenders = [tuple(c.split(":")) for c in args.contenders]
    if args.quick:
        args.images, args.sizes, args.masks, args.max_iter = ["camera"], [64], ["dropout50", "text"], 3
    if args.sweep and args.masks == list(MASKS):
        args.masks = ["dropout50"]
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    info = machine()
    info["load_start"] = info["load"]
    started = time.perf_counter()
    rows = sweep(args) if args.sweep else bench(args)
    info["load"] = machine()["load"]
    text = report(rows, info, argv, time.perf_counter() - started)
    print(text)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, "inpainting" + ("_quick" if args.quick else "_sweep" if args.sweep else "")
                        + (f"_{args.tag}" if args.tag else ""))
    with open(stem + ".md", "w") as handle:
        handle.write(text)
    write_csv(stem + ".csv", rows, FIELDS)
    log(f"wrote {stem}.md and {stem}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
