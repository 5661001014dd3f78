"""One concept per module, and a module a reader can hold: no Python module in wlra_core/ or ui/ is
longer than MAX_LINES (issue 9)."""
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 500
PACKAGES = ("wlra_core", "ui")


def lengths(root: Path = ROOT) -> dict[str, int]:
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            with path.open(encoding="utf-8") as f:
                found[path.relative_to(root).as_posix()] = sum(1 for _ in f)
    return found


def over(found: dict[str, int]) -> dict[str, int]:
    return {name: n for name, n in found.items() if n > MAX_LINES}


def test_no_module_is_longer_than_the_limit():
    assert over(lengths()) == {}


def test_the_walk_finds_a_long_module(tmp_path):
    (tmp_path / "ui" / "sub").mkdir(parents=True)
    (tmp_path / "wlra_core").mkdir()
    (tmp_path / "ui" / "sub" / "long.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (tmp_path / "wlra_core" / "short.py").write_text("x = 1\n" * MAX_LINES)
    assert over(lengths(tmp_path)) == {"ui/sub/long.py": MAX_LINES + 1}
