"""The README opens with exactly two commands (run the portal, run the whole test suite), and CI
runs the second one: what a newcomer types is what CI proves."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["bash scripts/run.sh", "bash scripts/test.sh"]
    assert "exec bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_the_readme_documents_the_development_mode_run_sh_accepts():
    text = (ROOT / "README.md").read_text()
    assert "bash scripts/run.sh --dev" in text and "MODELPORT_VAR=" in text
    assert "--dev) dev=1" in (ROOT / "scripts" / "run.sh").read_text()
