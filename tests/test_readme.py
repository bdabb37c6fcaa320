from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    """.ci/run must run exactly the README's test command (after the same set-up)."""
    readme = (ROOT / "README.md").read_text()
    ci_lines = [ln.strip() for ln in (ROOT / ".ci/run").read_text().splitlines() if ln.strip()]
    test_command = ci_lines[-1]
    first_block = readme.split("```")[1]
    assert test_command in first_block
    assert "pip install torch==2.13.0" in first_block
    setup_line = [ln for ln in first_block.splitlines() if ln.rstrip().endswith(test_command)]
    assert setup_line, "README's second command must end with the CI test command"
