"""The JavaScript of the app's components, kept in .js files beside the module that uses them."""
from __future__ import annotations

from pathlib import Path


def component_js(module_file: str, name: str) -> str:
    """The text of `name`, the .js file in the folder of `module_file` (pass ``__file__``)."""
    return Path(module_file).with_name(name).read_text(encoding="utf-8")
