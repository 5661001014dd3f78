"""AppTest of the entry point: app.py routes to the landing page, which explains WLRA and links on."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


def test_landing_page_renders_explanation_picture_and_links():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "Weighted low-rank approximation" in text
    assert "squared" in text  # the decision that W multiplies the squared residual
    assert any(r"W_{ij}" in latex.value for latex in at.latex)
    pictures = [h.proto.body for h in at.get("html") if 'data-testid="landing-example"' in h.proto.body]
    assert len(pictures) == 1 and pictures[0].count("data:image/png;base64,") == 4
    caption = " ".join(c.value for c in at.caption)
    assert "PSNR on the hidden pixels" in caption
    links = {link.proto.page for link in at.get("page_link")}  # url paths of the routed pages
    assert links == {"inpainting", "ratings", "solver_lab", "how_it_works"}


def test_every_page_is_reachable_through_the_router():
    at = AppTest.from_file(APP, default_timeout=120).run()
    for page in ("pages/inpainting.py", "pages/ratings.py", "pages/solver_lab.py", "pages/how_it_works.py"):
        at.switch_page(page).run()
        assert not at.exception, page
        assert at.title, page
