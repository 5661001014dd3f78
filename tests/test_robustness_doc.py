"""docs/ROBUSTNESS.md stays true: its catalogue counts its rows, and every row names tests that
exist, at least one through the library and one through the app."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ROBUSTNESS.md"
NODE = re.compile(r"`(tests/[\w/]+\.py::\w+)`")


def catalogue() -> tuple[int, list[list[str]]]:
    """(the row count the heading states, the table's rows as lists of cells)."""
    text = DOC.read_text(encoding="utf-8")
    heading = re.search(r"^## The catalogue: (\d+) rows$", text, flags=re.M)
    assert heading, "docs/ROBUSTNESS.md needs a heading '## The catalogue: N rows'"
    section = text[heading.end():].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in rows]
    return int(heading.group(1)), [c for c in cells if not set(c[0]) <= set("-: ")]


def collected(files: set[str]) -> set[str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           *sorted(files)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return {line.split("[", 1)[0] for line in done.stdout.splitlines() if "::" in line}


def test_the_catalogue_counts_its_rows_and_numbers_them_in_order():
    stated, rows = catalogue()
    assert len(rows) == stated
    assert [row[0] for row in rows] == [str(i) for i in range(1, stated + 1)]
    assert all(len(row) == 5 for row in rows), "columns: # | input | library | app | tests"


def test_every_row_is_pinned_by_existing_tests_through_the_library_and_the_app():
    _, rows = catalogue()
    nodes = {row[0]: NODE.findall(row[4]) for row in rows}
    for number, ids in nodes.items():
        assert any(not i.startswith(("tests/app/", "tests/browser/")) for i in ids), f"row {number}: no library test"
        assert any(i.startswith(("tests/app/", "tests/browser/")) for i in ids), f"row {number}: no app test"
    everything = {i for ids in nodes.values() for i in ids}
    missing = everything - collected({i.split("::")[0] for i in everything})
    assert not missing, f"tests named in docs/ROBUSTNESS.md that do not exist: {sorted(missing)}"


@pytest.mark.parametrize("section", ["## Server settings", "## Property-based tests", "## Isolation and load",
                                     "## Faults"])
def test_the_other_defences_are_described(section):
    text = DOC.read_text(encoding="utf-8")
    assert section in text
    body = text.split(section, 1)[1].split("\n## ", 1)[0]
    ids = NODE.findall(body)
    assert ids, f"{section}: name the tests that prove it"
    missing = set(ids) - collected({i.split("::")[0] for i in ids})
    assert not missing, f"{section}: tests that do not exist: {sorted(missing)}"
