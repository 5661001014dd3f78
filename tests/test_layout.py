"""The tests mirror the modules: every module of wlra_core has a row in tests/README.md naming the
test files that test it directly, and every test file a row names exists."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
README = TESTS / "README.md"
ROW = re.compile(r"^\|\s*`(wlra_core/[^`]+\.py)`\s*\|(.*)\|\s*$")
TEST_FILE = re.compile(r"`(test_[A-Za-z0-9_*]+\.py)`")


def table_rows(text: str) -> dict[str, list[str]]:
    """Module path → the test files its row names (a module named twice keeps both rows' files)."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = ROW.match(line.strip())
        if match:
            rows.setdefault(match.group(1), []).extend(TEST_FILE.findall(match.group(2)))
    return rows


def modules() -> list[str]:
    return sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "wlra_core").rglob("*.py"))


ROWS = table_rows(README.read_text(encoding="utf-8"))


def test_the_table_is_found_and_the_walk_finds_the_modules():
    # Guards the two tests below against passing vacuously on a reformatted table or a moved tree.
    assert len(ROWS) >= 40, f"tests/README.md: found {len(ROWS)} module rows, expected the table"
    assert "wlra_core/problem.py" in modules()


@pytest.mark.parametrize("module", modules())
def test_every_module_has_a_row_naming_at_least_one_test_file(module):
    assert ROWS.get(module), (f"{module} has no row (or a row naming no test file) in the table "
                              f"of tests/README.md: add one with the test file(s) that test it")


@pytest.mark.parametrize("module", sorted(ROWS))
def test_every_row_names_a_module_and_test_files_that_exist(module):
    assert (ROOT / module).is_file(), f"tests/README.md has a row for {module}, which does not exist"
    missing = [name for name in ROWS[module] if not (TESTS / name).is_file()]
    assert not missing, f"tests/README.md: the row of {module} names missing test files {missing}"


def test_every_cross_cutting_suite_named_exists():
    text = README.read_text(encoding="utf-8").split("## Cross-cutting suites", 1)
    assert len(text) == 2, "tests/README.md has no 'Cross-cutting suites' section"
    named = [n for n in TEST_FILE.findall(text[1]) if "*" not in n]
    assert named
    missing = [n for n in named if not (TESTS / n).is_file()]
    assert not missing, f"tests/README.md names cross-cutting suites that do not exist: {missing}"


def test_the_table_parser_catches_a_missing_row_and_a_missing_file():
    rows = table_rows("| `wlra_core/a.py` | `test_a.py`, `test_nope.py` |\n| `wlra_core/b.py` | |\n")
    assert rows == {"wlra_core/a.py": ["test_a.py", "test_nope.py"], "wlra_core/b.py": []}
    assert not rows.get("wlra_core/b.py") and "wlra_core/c.py" not in rows


def test_no_two_test_files_share_a_name():
    # a folder without __init__.py has its files imported by their name alone: two such files of
    # one name stop `pytest tests` at collection, though each folder passes on its own
    import collections
    names = collections.Counter(path.name for path in TESTS.rglob("test_*.py")
                                if not (path.parent / "__init__.py").exists())
    assert {name: count for name, count in names.items() if count > 1} == {}
