"""AppTest of the entry point: app.py routes to the landing page, whose "Start here" opens a running
inpainting demo, whose picture is wc.inpaint's best, and whose formula sits below the fold."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

import wlra_core as wc

from _apptest import run_page
from ui.models import landing

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
INPAINTING = str(ROOT / "views" / "inpainting.py")


def main_elements(at: AppTest) -> list:
    return list(at.main)


def test_landing_page_starts_with_start_here_and_the_picture_and_ends_with_the_formula():
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception
    links = {link.proto.label: link.proto for link in at.get("page_link")}
    start = next(proto for label, proto in links.items() if label.startswith("Start here"))
    assert start.page == "inpainting" and start.query_string == "autoplay=1"
    assert {proto.page for proto in links.values()} == {"inpainting", "ratings", "solver_lab", "how_it_works"}

    kinds = [type(e).__name__ for e in main_elements(at)]
    first_link, latex = kinds.index("PageLink"), kinds.index("Latex")
    pictures = [h.proto.body for h in at.get("html") if 'data-testid="landing-example"' in h.proto.body]
    assert len(pictures) == 1 and pictures[0].count("data:image/png;base64,") == 3
    # Above the fold: title, one line, Start here (first link), the picture. Formula and citations after.
    assert kinds.index("Title") < first_link < latex
    assert first_link == min(i for i, kind in enumerate(kinds) if kind in ("PageLink", "Latex", "Html"))
    assert any(r"W_{ij}" in l.value for l in at.latex)
    text = " ".join(m.value for m in at.markdown)
    assert "squared" in text and "2306.04169" in text
    assert "2306.04169" not in " ".join(m.value for m in at.markdown[:1])  # no citation in the first line


def test_the_hero_is_wc_inpaint_at_its_best_iteration_and_its_caption_says_so():
    at = AppTest.from_file(APP, default_timeout=180).run()
    hero = landing.hero()
    # The old hero (the pixel matrix, exact solver, 128 px) reached 18 dB; patches at the best step do far better.
    assert hero.psnr_hidden > 22
    assert 1 <= hero.best_iteration <= hero.iterations
    caption = " ".join(c.value for c in at.caption)
    assert f"{hero.psnr_hidden:.1f} dB" in caption
    assert f"best step ({hero.best_iteration} of {hero.iterations}" in caption
    assert hero.lift == wc.inpaint.__kwdefaults__["lift"]              # the library's default, whatever it is
    assert landing.method(hero) in caption and f"{hero.patch}×{hero.patch}" in caption


def test_autoplay_presses_play_once_and_leaves_the_url():
    at = run_page(INPAINTING, 180, autoplay="1")
    assert not at.exception
    assert at.session_state["inp_runs"] is not None          # Play started the runs
    assert at.session_state["inp_playing"] is True and at.button(key="inp_play").label == "Pause"
    assert "autoplay" not in at.query_params                  # and is not pressed again on a rerun
    plain = run_page(INPAINTING, 180)
    assert not plain.exception and plain.session_state["inp_runs"] is None


def test_every_page_is_reachable_through_the_router():
    at = AppTest.from_file(APP, default_timeout=180).run()
    for page in ("views/inpainting.py", "views/ratings.py", "views/solver_lab.py", "views/how_it_works.py"):
        at.switch_page(page).run()
        assert not at.exception, page
        assert at.title, page
