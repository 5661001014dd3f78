"""Write the synthetic sample ratings file used by the app's "Rating matrices" page.

    .venv/bin/python scripts/make_sample_ratings.py            # writes assets/ratings/sample_ratings.csv

The ratings are made up: wlra_core.data.make_ratings draws them from a planted low-rank model
with a fixed seed, so the file is reproducible and free to redistribute. It stands in for a real
data set (which this repository does not ship).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import wlra_core as wc  # noqa: E402  (after the path set-up, so the script runs from anywhere)

DEFAULT = ROOT / "assets" / "ratings" / "sample_ratings.csv"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--items", type=int, default=250)
    parser.add_argument("--rank", type=int, default=4, help="rank of the planted taste model")
    parser.add_argument("--density", type=float, default=0.08)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--out", type=Path, default=DEFAULT)
    args = parser.parse_args(argv)
    frame = wc.data.make_ratings(args.users, args.items, args.rank, density=args.density, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    print(f"wrote {len(frame)} ratings of {frame['user'].nunique()} users on "
          f"{frame['item'].nunique()} items to {args.out}")


if __name__ == "__main__":
    main()
