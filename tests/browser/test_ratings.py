"""The ratings page in a real browser: Play on the sample data beats the mean predictor."""
import re

import pytest
from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.browser

NUMBER = re.compile(r"-?\d+\.\d+")


def metric_value(main: Locator, label: str) -> float:
    """The number shown by the st.metric whose label is exactly `label`."""
    metric = main.get_by_test_id("stMetric").filter(
        has=main.page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
    expect(metric).to_have_count(1)
    value = metric.get_by_test_id("stMetricValue")
    expect(value).to_have_text(NUMBER)
    return float(NUMBER.search(value.inner_text()).group())


def settle(page: Page) -> None:
    """No script run in progress: no running indicator, no element still marked stale."""
    expect(page.get_by_test_id("stStatusWidgetRunningIcon")).to_have_count(0)
    expect(page.locator('[data-stale="true"]')).to_have_count(0)


def test_ratings_run_beats_the_mean_predictor(page, screenshot):
    page.goto("/ratings")
    main = page.get_by_test_id("stMainBlockContainer")
    expect(main.get_by_role("heading", level=1)).to_contain_text("Rating matrices", timeout=90_000)
    expect(main).to_contain_text("sample (synthetic)")
    play = main.locator(".st-key-rat_play button")
    expect(play).to_contain_text("Play")
    # before Play the data is on show: the observed ratings, held-out ones marked
    preview = main.locator(".st-key-rat_fig_preview")
    expect(preview).to_be_visible(timeout=30_000)
    expect(preview).to_contain_text("held out (test)")
    play.click()
    expect(play).to_contain_text("Pause")
    # The defaults (k = 4, ridge 1, eps 1e-4, max_iter 30) converge in a few iterations; when the
    # runs stop the button turns back into Play. Wait for that, then read the final numbers.
    expect(play).to_contain_text("Play", timeout=120_000)
    expect(main.get_by_test_id("stMetric").filter(has_text="test RMSE")).to_have_count(2)
    settle(page)

    mean_rmse = metric_value(main, "mean predictor")
    assert 0.3 < mean_rmse < 3.0, f"implausible mean-predictor RMSE {mean_rmse} on ratings 1–5"
    for solver in ("exact", "sketched"):
        rmse = metric_value(main, f"{solver}: test RMSE")
        assert rmse < mean_rmse, f"{solver}: test RMSE {rmse} not below the mean predictor's {mean_rmse}"
    # The replay slider is there once two iterations exist; the chart shows the reference line.
    expect(main.locator(".st-key-rat_fig_rmse")).to_contain_text("mean predictor")
    expect(main).to_contain_text("Time per solver")
    expect(main.locator(".st-key-rat_fig_heatmap")).to_contain_text("held out (test)")
    assert "Traceback" not in main.inner_text()
    screenshot("ratings")
