"""Solver runs on a page: the run set and the click log are plain Python (importable without
Streamlit); the controller (ui.runs.controller) and the shortcuts (ui.runs.shortcuts) draw them."""
from ui.runs.clicks import CLICK_LOG, COMMANDS, Controls
from ui.runs.runset import FACTOR_BUDGET_BYTES, Run, RunSet, View

__all__ = ["CLICK_LOG", "COMMANDS", "Controls", "FACTOR_BUDGET_BYTES", "Run", "RunSet", "View"]
