import subprocess
import sys


def test_help_lists_commands_and_exits_zero():
    out = subprocess.run([sys.executable, "-m", "app.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "zhida" in out.stdout.lower()


def test_unknown_command_is_a_usage_error_not_a_traceback():
    out = subprocess.run([sys.executable, "-m", "app.cli", "no-such-command"], capture_output=True, text=True)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
