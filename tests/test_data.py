"""wlra_core.data, the loaders and generators under their former module name: each old name is the
same object as in wlra_core.io or wlra_core.synthetic, and importing it loads neither pandas nor
Pillow. (The loaders and generators themselves are tested in the files named after their modules:
test_sources, test_image_files, test_images, test_ratings, test_matrices, test_synthetic.)"""
from __future__ import annotations

import subprocess
import sys

import pytest

import wlra_core.data as data
from wlra_core import io, synthetic

SYNTHETIC = ("Planted", "PATTERNS", "planted", "make_ratings")


@pytest.mark.parametrize("name", data.__all__)
def test_every_former_name_is_the_object_of_its_new_module(name):
    home = synthetic if name in SYNTHETIC else io
    assert getattr(data, name) is getattr(home, name)


def test_an_unknown_name_is_an_attribute_error_naming_the_module():
    with pytest.raises(AttributeError, match="wlra_core.data.*no attribute 'load_everything'"):
        data.load_everything  # noqa: B018


def test_importing_the_former_module_loads_neither_pandas_nor_pillow():
    code = ("import sys, wlra_core.data as d\n"
            "assert 'load_matrix' in dir(d)\n"
            "heavy = sorted(m for m in ('pandas', 'PIL') if m in sys.modules)\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
