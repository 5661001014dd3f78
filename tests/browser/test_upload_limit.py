"""The server's upload limit in a real browser: a file just above it (server.maxUploadSize in
.streamlit/config.toml, 50 MB, the library's file cap) is refused by the browser with Streamlit's
size message, before any byte reaches the server, and the inpainting page keeps its image and runs.

The file is sparse (a hole of 50 MB + 1 byte, nothing written): the browser checks the size the
file system reports, and Playwright hands a local browser the path, not the bytes.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

import wlra_core as wc
from tests.browser.inpainting_page import main_block, open_inpainting, step, upload_image
from ui import uploads

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]


def server_upload_limit() -> int:
    with open(ROOT / ".streamlit" / "config.toml", "rb") as f:
        return tomllib.load(f)["server"]["maxUploadSize"] * 2**20


def test_a_file_above_the_upload_limit_is_refused_by_the_browser_and_the_page_keeps_its_image(page, tmp_path):
    limit = server_upload_limit()
    assert limit == wc.limits.MAX_FILE_BYTES == uploads.MAX_UPLOAD_BYTES == 50 * 2**20

    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(good)
    big = tmp_path / "big.png"
    with open(big, "wb") as f:
        f.truncate(limit + 1)  # sparse: no disk space used
    assert big.stat().st_size == limit + 1

    main = open_inpainting(page, "/inpainting?inp_res=64&inp_solvers=exact")
    upload_image(page, good)
    step(page, 1)
    original = main.get_by_test_id("image-row-original").locator("img").get_attribute("src")
    caption = main.get_by_text(re.compile(r"^Original \d+×\d+ px")).inner_text()
    assert caption.startswith("Original 60×40 px, worked on at 60×40 px")

    uploader = main.get_by_test_id("stFileUploader").nth(0)
    uploader.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(big))
    refused = uploader.locator('[data-testid="stFileChip"][aria-invalid="true"]')
    expect(refused).to_have_count(1)
    expect(refused.get_by_test_id("stFileChipName")).to_have_text("big.png")
    expect(refused.get_by_role("alert")).to_have_text("Error: File must be 50.0MB or smaller.")
    expect(uploader.locator('[data-testid="stFileChip"]:not([aria-invalid="true"])')).to_contain_text("good.png")

    # Nothing reached the server: the page keeps its image, its caption and its run.
    expect(main.get_by_role("combobox", name="Image")).to_have_value("uploaded: good.png")
    expect(main.get_by_test_id("image-row-original").locator("img")).to_have_attribute("src", original)
    expect(main.get_by_text(re.compile(r"^Original \d+×\d+ px"))).to_have_text(caption)
    expect(main.get_by_test_id("iteration-count")).to_have_text("Iteration 1")
    expect(main.get_by_test_id("stAlertContentError")).to_have_count(0)
    step(page, 2)  # and the run goes on
    expect(main_block(page).get_by_role("combobox", name="Image")).to_have_value("uploaded: good.png")
