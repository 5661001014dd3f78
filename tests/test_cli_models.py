"""The CLI's model flags (issue 10, item 7): --bias, --ridge-scaling, --holdout."""
import numpy as np
import pytest

import wlra_core as wc
from wlra_core.__main__ import build_parser, main


def ratings_file(tmp_path):
    rng = np.random.default_rng(3)
    n, m = 60, 40
    truth = 3.0 + rng.normal(0, 0.5, n)[:, None] + rng.normal(0, 0.5, m)[None, :] + \
        rng.standard_normal((n, 2)) @ rng.standard_normal((2, m)) * 0.5
    lines = ["user,item,rating"]
    for u in range(n):
        for i in rng.choice(m, size=20, replace=False):
            lines.append(f"u{u:03d},i{i:03d},{truth[u, i] + 0.05 * rng.standard_normal():.6f}")
    path = tmp_path / "ratings.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_help_lists_the_model_flags():
    text = build_parser().format_help()
    for flag in ("--bias", "--ridge-scaling", "--holdout"):
        assert flag in text


def test_bias_count_ridge_and_holdout_give_the_librarys_fit(tmp_path, capsys):
    path = ratings_file(tmp_path)
    prefix = tmp_path / "fit"
    status = main(["--ratings", str(path), "-k", "2", "--solver", "exact", "--max-iter", "15", "--bias",
                   "--ridge", "0.01", "--ridge-scaling", "count", "--holdout", "0.1", "--seed", "4",
                   "--out", str(prefix)])
    out = capsys.readouterr().out
    assert status == 0
    line = next(s for s in out.splitlines() if s.startswith("best iteration on the held-out entries"))
    data = wc.data.load_ratings(str(path))
    with pytest.warns(wc.ConvergenceWarning):
        res = wc.solve(data.M, data.W, 2, solver="exact", max_iter=15, bias=True, ridge=0.01,
                       ridge_scaling="count", holdout=0.1, seed=4)
    assert f"held-out RMSE {res.best.holdout_rmse:.6g}" in line
    assert line.split(":")[1].split(",")[0].strip() == str(res.best.iteration)
    saved = np.load(f"{prefix}_offsets.npz", allow_pickle=False)
    np.testing.assert_allclose(saved["row_offsets"], res.row_offsets)
    np.testing.assert_allclose(saved["col_offsets"], res.col_offsets)
    assert float(saved["mean"]) == pytest.approx(res.mean)


def test_planted_error_vs_truth_includes_the_offsets(capsys):
    status = main(["--planted", "60", "40", "3", "--p", "0.7", "--solver", "exact", "--bias", "--eps", "1e-12",
                   "--max-iter", "200"])
    out = capsys.readouterr().out
    assert status == 0
    error = float(next(s for s in out.splitlines() if "relative error vs truth" in s).split("=")[-1])
    assert error < 1e-4


@pytest.mark.parametrize("argv, match", [
    (["--holdout", "1.5"], "holdout: found 1.5"),
    (["--ridge-scaling", "count"], "ridge_scaling: found 'count' with ridge=0"),
    (["--solver", "em", "--ridge", "1", "--ridge-scaling", "count"], "ridge_scaling: found 'count' with solver='em'"),
])
def test_bad_model_flags_exit_2_with_one_line(argv, match, capsys):
    status = main(["--planted", "30", "20", "2", "--max-iter", "2", *argv])
    err = capsys.readouterr().err
    assert status == 2
    assert match in err and err.count("\n") == 1
