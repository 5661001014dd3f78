"""wlra_core.cli_parser: the command line's argument types (sizes, counts, tolerances), the
one-line usage error, and which options --lift refuses."""
from __future__ import annotations

import argparse

import pytest

from wlra_core import cli_parser
from wlra_core.cli_parser import build_parser, not_for_inpainting, parse_size


@pytest.mark.parametrize("text, expected", [
    ("1073741824", 2**30), ("512M", 512 * 2**20), ("1G", 2**30), ("1.5G", 3 * 2**29),
    ("64kb", 64 * 1024), ("2GiB", 2**31), (" 3 m ", 3 * 2**20),
])
def test_parse_size_accepts_bytes_and_binary_units(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "12X", "G", "-1M", "0", "1e9"])
def test_parse_size_rejects_other_text(text):
    with pytest.raises(Exception, match="size|byte"):
        parse_size(text)


@pytest.mark.parametrize("text, expected", [("1", 1), ("12", 12), (" 7 ", 7)])
def test_positive_int_accepts_positive_integers(text, expected):
    assert cli_parser._positive_int(text) == expected


@pytest.mark.parametrize("bad, message", [
    ("0", "'0' must be a positive integer"),
    ("-3", "'-3' must be a positive integer"),
    ("2.5", "'2.5' is not an integer"),
    ("ten", "'ten' is not an integer"),
    ("", "'' is not an integer"),
])
def test_positive_int_refuses_other_text(bad, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        cli_parser._positive_int(bad)


@pytest.mark.parametrize("text, expected", [("0", 0.0), ("1e-6", 1e-6), ("2.5", 2.5)])
def test_nonnegative_float_accepts_finite_numbers_from_zero(text, expected):
    assert cli_parser._nonnegative_float(text) == expected


@pytest.mark.parametrize("bad, message", [
    ("-1e-9", "must be a finite number >= 0"),
    ("nan", "must be a finite number >= 0"),
    ("inf", "must be a finite number >= 0"),
    ("tiny", "'tiny' is not a number"),
])
def test_nonnegative_float_refuses_negative_nan_inf_and_words(bad, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        cli_parser._nonnegative_float(bad)


def test_inner_eps_is_adaptive_or_a_nonnegative_number():
    assert cli_parser._inner_eps("adaptive") == "adaptive"
    assert cli_parser._inner_eps("1e-3") == 1e-3
    with pytest.raises(argparse.ArgumentTypeError, match="finite number >= 0"):
        cli_parser._inner_eps("-1")


def test_a_usage_error_exits_2_with_one_line_naming_help(capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["--planted", "20", "10", "2", "--max-iter", "0"])
    assert stop.value.code == cli_parser.EXIT_INPUT == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "--help" in err
    assert "must be a positive integer" in err


def test_defaults_parse_to_the_plain_run_and_nothing_is_refused_for_inpainting():
    args = build_parser().parse_args(["--planted", "20", "10", "2"])
    assert args.memory_budget == parse_size("1G") == 2**30
    assert not_for_inpainting(args) == []


@pytest.mark.parametrize("extra, refused", [
    (["--clip"], ["--clip"]),
    (["--inner-eps", "1e-3"], ["--inner-eps"]),
    (["--memory-budget", "2G"], ["--memory-budget"]),
    (["--no-diagnostics", "--clip"], ["--clip", "--no-diagnostics"]),
])
def test_not_for_inpainting_names_each_given_option_inpaint_does_not_take(extra, refused):
    args = build_parser().parse_args(["--planted", "20", "10", "2", *extra])
    assert not_for_inpainting(args) == refused
