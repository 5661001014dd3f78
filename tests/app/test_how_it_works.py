"""AppTest of the How it works page (pages/how_it_works.py)."""
from pathlib import Path

import numpy as np

import pytest
from _apptest import run_page
from streamlit.testing.v1 import AppTest

from ui import walkthrough as wt

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "how_it_works.py")


def page(**query) -> AppTest:
    return run_page(PAGE, 60, **query)


def kappas(at: AppTest) -> tuple[float, float]:
    values = {m.label: float(m.value) for m in at.metric if m.label.startswith("κ")}
    return values["κ(A_i) before"], values["κ(A_i R⁻¹) after"]


def test_defaults_walk_through_every_step_without_error():
    at = page()
    assert not at.exception and not at.warning
    headers = [h.value for h in at.header]
    assert len(headers) == 9 and headers[0].startswith("1.") and headers[-1].startswith("9.")
    assert any("W_{ij}" in l.value and "^2" in l.value for l in at.latex)  # weights times squared residual
    before, after = kappas(at)
    assert before > 20 and after < 2  # the default row is ill-conditioned; preconditioning fixes it
    assert any("Measured here" in c.value for c in at.caption)  # the wlra_core run ran


def test_a_setting_change_is_reflected():
    at = page()
    first = kappas(at)
    at.slider(key="hiw_row").set_value(0).run()
    assert not at.exception and kappas(at) != first
    at.slider(key="hiw_s").set_value(3).run()  # s = k: the smallest sketch, a poor preconditioner
    assert not at.exception
    assert kappas(at)[1] > 1.5


def test_settings_come_from_the_url():
    at = page(hiw_k="4", hiw_row="5", hiw_seed="2")
    assert (at.slider(key="hiw_k").value, at.slider(key="hiw_row").value) == (4, 5)
    assert at.number_input(key="hiw_seed").value == 2
    assert not at.exception


def test_a_sketch_larger_than_the_row_is_clamped_with_a_note():
    at = page(hiw_s="60")
    assert not at.exception
    assert any("clamped" in i.value for i in at.info)


@pytest.mark.parametrize("kind", wt.DRAWABLE_SKETCHES)
def test_every_drawable_sketch_of_the_library_preconditions_the_row(kind):
    at = page(hiw_sketch=kind)
    assert not at.exception and not at.warning
    assert at.selectbox(key="hiw_sketch").value == kind
    assert any(f"`{kind}`" in c.value for c in at.caption)  # S·A_i said to be the library's own
    before, after = kappas(at)
    assert before > 20 and after < 2.5


def test_a_sketch_too_small_to_precondition_is_called_out():
    at = page(hiw_s="3")  # s = k
    assert not at.exception
    assert any("did not converge" in w.value for w in at.warning)


def test_the_contrast_with_plain_gradient_descent_is_quantified():
    at = page()
    caption = next(c.value for c in at.caption if c.value.startswith("Plain gradient descent"))
    before, _ = kappas(at)
    rate = float(caption.split("= ")[1].split(" ")[0])
    assert rate == pytest.approx((before ** 2 - 1) / (before ** 2 + 1), abs=1e-4)


def test_the_patch_matrix_section_shows_both_liftings_at_rank_r():
    at = page(hiw_patch="4", hiw_rank="4")
    assert not at.exception
    assert at.header[-1].value.startswith("9. Which matrix")
    lifted = wt.lifted_example(wt_sample(), patch=4)
    assert lifted.patches.shape == (15 * 15, 16)   # 32 px crop, 4 px windows at stride 2
    np.testing.assert_array_equal(lifted.lifting.average(lifted.patches), lifted.image)
    full = wt.rank_pictures(lifted, 16)             # the patch matrix's full rank: the crop back
    assert full.psnr_patches > 60 and full.psnr_pixels < full.psnr_patches
    assert wt.rank_pictures(lifted, 32).psnr_pixels > 60
    low = wt.rank_pictures(lifted, 2)
    assert low.psnr_pixels < 30 and low.psnr_patches < 30
    at.slider(key="hiw_rank").set_value(8).run()
    assert not at.exception


def wt_sample():
    from ui import loaders
    return loaders.sample_path("camera")
