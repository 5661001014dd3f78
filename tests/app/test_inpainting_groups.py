"""The RunSet extension the inpainting page's groups runs need: a run that keeps each step's image
(wlra_core.inpaint_steps' group rounds have no global X, Y)."""
from pathlib import Path

import numpy as np
import pytest

import wlra_core as wc
from ui.runs import RunSet



class ImageStep:
    """What wlra_core.inpaint_steps yields for a group round: an image, no X, Y."""

    def __init__(self, iteration, image, stop_reason=None):
        self.iteration, self.image, self.stop_reason = iteration, image, stop_reason
        self.objective, self.seconds, self.elapsed = 1.0 / iteration, 0.01, 0.01 * iteration


def test_a_run_keeps_each_image_step_and_thins_the_images_within_the_budget(monkeypatch):
    monkeypatch.setattr("ui.runs.runset.FACTOR_BUDGET_BYTES", 3 * 4 * 10 * 10)   # three float32 images

    def start(name):
        return (ImageStep(t, np.full((10, 10), t / 10.0), "max_iter reached" if t == 6 else None)
                for t in range(1, 7))

    rs = RunSet.build("sig", ["groups"], start)
    for _ in range(6):
        rs.advance()
    run = rs.runs["groups"]
    assert run.done and run.stop_reason == "max_iter reached" and run.iterations == 6
    assert run.factors == [] and not run.has_factors and run.factors_at(6) is None
    assert "relative_objective" not in run.records[0] and run.records[2]["objective"] == pytest.approx(1 / 3)
    shown, image = run.image_at(6)
    assert shown == 6 and image.dtype == np.float32 and np.all(image == np.float32(0.6))
    assert rs.factor_bytes <= 3 * 4 * 10 * 10 and run.images[-1] is not None
    kept = [i for i, a in enumerate(run.images) if a is not None]
    assert len(kept) < 6 and kept[0] == 0
    # a dropped image: replay shows the nearest earlier kept one
    dropped = next(i for i in range(6) if run.images[i] is None)
    assert run.image_at(dropped + 1)[0] == max(i for i in kept if i < dropped) + 1


def test_a_run_of_factors_has_no_images():
    rng = np.random.default_rng(0)
    M, W = rng.random((12, 9)), np.ones((12, 9))
    rs = RunSet.build("sig", ["exact"], lambda name: wc.iterate(M, W, 2, solver=name, max_iter=2))
    rs.advance()
    run = rs.runs["exact"]
    assert run.has_factors and run.image_at(1) is None and run.factors_at(1)[1].shape == (12, 2)
    assert "relative_objective" in run.records[0]
