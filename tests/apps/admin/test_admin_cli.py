"""`python -m apps.admin`: help with examples, and a clear error for a broken settings file."""

import subprocess
import sys

from support import ROOT


def run(*args: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "apps.admin", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "VISIONDESK_DATA_DIR": str(tmp_path)})


def test_help_shows_examples(tmp_path):
    out = run("--help", tmp_path=tmp_path)
    assert out.returncode == 0 and "python -m apps.admin --config" in out.stdout


def test_a_broken_settings_file_is_refused_with_its_problem(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("apps:\n  admin_port: not-a-port\n")
    out = run("--config", str(config), tmp_path=tmp_path)
    assert out.returncode == 2 and "admin_port" in out.stderr
