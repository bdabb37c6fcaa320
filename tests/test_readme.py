"""The README's two commands stay true: .ci/run is the second one, step by step, and both
install through the tested lock in requirements/."""

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FIRST_BLOCK = README.split("```")[1]


def _command(marker: str) -> str:
    lines = FIRST_BLOCK.splitlines()
    return next(lines[i + 1] for i, line in enumerate(lines) if line.startswith("#") and marker in line)


def _ci_steps() -> list[str]:
    """.ci/run's commands, with python -m and -q dropped to compare with what a user types."""
    steps = []
    for line in (ROOT / ".ci/run").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "set ", "cd ", "export ")):
            continue
        line = re.sub(r"^python -m (pip|pytest)", r"\1", line).replace(" -q ", " ", 1) if "pip" in line else line
        steps.append(line.replace("pytest", "python -m pytest") if line.startswith("pytest") else line)
    return steps


def test_ci_runs_the_readme_test_command_step_by_step():
    assert _command("2.").split(" && ") == _ci_steps()


def test_both_commands_install_through_the_lock_with_torch_first():
    for marker, lock in (("1.", "requirements/run.txt"), ("2.", "requirements/test.txt")):
        steps = _command(marker).split(" && ")
        assert steps[2] == "pip install torch==2.13.0", steps
        installs = [shlex.split(s) for s in steps if s.startswith("pip install")]
        # every install after torch's takes exact pins only, without resolving anything new
        assert all("--no-deps" in args and "-r" in args for args in installs[1:]), installs
        assert lock in steps[3], steps[3]
        for args in installs[1:]:
            for i, arg in enumerate(args):
                if arg == "-r":
                    assert (ROOT / args[i + 1]).exists(), args[i + 1]
    assert _command("1.").endswith("stamp-sim run --hw npu")
