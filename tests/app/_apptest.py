"""Shared by the AppTest files: run one page script with URL query parameters set."""
from streamlit.testing.v1 import AppTest


def run_page(path: str, timeout: float = 60, **query) -> AppTest:
    at = AppTest.from_file(path, default_timeout=timeout)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def press(at: AppTest, button: str, times: int = 1) -> AppTest:
    """Click the button with this key `times` times, rerunning after each click."""
    for _ in range(times):
        at.button(key=button).click().run()
    return at
