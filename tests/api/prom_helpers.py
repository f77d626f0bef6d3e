"""promtool for the HTTP tests: whatever a test's workload put in /metrics must pass
`promtool check metrics` (Debian's prometheus package)."""
import shutil
import subprocess

import pytest


def promtool_problems(body):
    """(exit status, what promtool printed) for the exposition text body; skips the test with
    a message when promtool is not installed."""
    if not shutil.which("promtool"):
        pytest.skip("promtool is not installed (Debian's prometheus package; scripts/deps.sh "
                    "installs it)")
    p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                       text=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).strip()


def assert_promtool_clean(body):
    rc, out = promtool_problems(body)
    assert rc == 0 and out == "", out
