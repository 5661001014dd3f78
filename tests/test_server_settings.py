"""The server settings of .streamlit/config.toml, as Streamlit itself reads them, and as a running
server applies them: the upload limit equals the library's file cap, XSRF protection is on (an
upload without the token is refused), error details are hidden from users."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import wlra_core as wc

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def streamlit_config(monkeypatch):
    """Streamlit's configuration parsed afresh from the project's directory."""
    from streamlit import config
    monkeypatch.chdir(ROOT)
    config.get_config_options(force_reparse=True)
    yield config
    config.get_config_options(force_reparse=True)


def test_the_upload_limit_is_the_library_file_cap(streamlit_config):
    assert streamlit_config.get_option("server.maxUploadSize") == wc.limits.MAX_FILE_MB
    # Streamlit counts that option in units of 2**20 bytes, as the library does
    assert wc.limits.MAX_FILE_BYTES == wc.limits.MAX_FILE_MB * 1024 * 1024
    where = streamlit_config.get_where_defined("server.maxUploadSize")
    assert Path(where) == ROOT / ".streamlit" / "config.toml"


def test_xsrf_protection_is_on_and_error_details_are_hidden(streamlit_config):
    for option, value in (("server.enableXsrfProtection", True), ("server.enableCORS", True),
                          ("client.showErrorDetails", "none")):
        assert streamlit_config.get_option(option) == value, option
        assert Path(streamlit_config.get_where_defined(option)) == ROOT / ".streamlit" / "config.toml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the app server did not start"
            assert proc.poll() is None, "the app server exited"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _put(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    body = b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\nabc\r\n--x--\r\n"
    request = urllib.request.Request(url, data=body, method="PUT", headers={
        "Content-Type": "multipart/form-data; boundary=x", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_a_running_server_refuses_an_upload_without_the_xsrf_token(server):
    status, body = _put(f"{server}/_stcore/upload_file/some-session/some-file", {})
    assert status == 403, (status, body[:300])
    assert b"Traceback" not in body
    # a made-up token that does not match the cookie is refused too (403, or 400 as malformed)
    status, _ = _put(f"{server}/_stcore/upload_file/some-session/some-file",
                     {"X-Xsrftoken": "2|00000000|00000000|1", "Cookie": "_streamlit_xsrf=2|11111111|11111111|1"})
    assert status in (400, 403)
