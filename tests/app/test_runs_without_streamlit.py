"""The run set and the click log are plain Python: importable, and usable, without Streamlit."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import sys
from ui.runs import Controls, RunSet
assert "streamlit" not in sys.modules, "ui.runs imported streamlit"

class Step:
    def __init__(self, i):
        import numpy as np
        self.iteration, self.objective, self.relative_objective = i, 1.0 / i, 1.0 / i
        self.seconds = self.elapsed = 0.001
        self.X, self.Y = np.ones((3, 1)), np.ones((4, 1))
        self.stop_reason = "converged" if i == 3 else None

def steps(name):
    return (Step(i) for i in range(1, 10))

runs = RunSet.build("sig", ["a", "b"], steps)
while not runs.done:
    runs.advance()
assert [r["iteration"] for r in runs.runs["a"].records] == [1, 2, 3]
controls = Controls()
controls.push("step")
assert controls.next_command(None) == ("step", None)
assert "streamlit" not in sys.modules, "using ui.runs imported streamlit"
print("ok")
"""


def test_the_run_set_and_the_click_log_import_and_run_without_streamlit():
    done = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
