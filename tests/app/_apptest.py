"""Shared by the AppTest files: run one page script with URL query parameters set, press its
buttons, read its HTML blocks."""
from streamlit.testing.v1 import AppTest


def run_page(path: str, timeout: float = 60, **query) -> AppTest:
    at = AppTest.from_file(path, default_timeout=timeout)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def html_bodies(at: AppTest) -> str:
    """The bodies of every st.html block the page drew, joined."""
    return "\n".join(h.proto.body for h in at.get("html"))


def press(at: AppTest, button: str, times: int = 1) -> AppTest:
    """Click the button with this key `times` times, rerunning after each click."""
    for _ in range(times):
        at.button(key=button).click().run()
    return at


def step_inpainting(at: AppTest, times: int = 1) -> AppTest:
    """Press the inpainting page's Step `times` times."""
    return press(at, "inp_step", times)


def spy_on_iterate(monkeypatch) -> list[dict]:
    """Record the k and keywords of every wlra_core.iterate call the page makes (the real one runs)."""
    import wlra_core

    calls: list[dict] = []
    real = wlra_core.iterate

    def spy(M, W, k, **kwargs):
        calls.append({"k": k, **kwargs})
        return real(M, W, k, **kwargs)

    monkeypatch.setattr(wlra_core, "iterate", spy)
    return calls
