"""`python -m dashboard [streamlit options]`: the dashboard on http://127.0.0.1:8501, from any folder.

Streamlit reads `.streamlit/config.toml` from the current folder only, and without it listens on every
interface. So this runs Streamlit from the repository (its settings apply wherever you start) and names
the loopback address on the command line, which beats any config file; a `--server.address` of your
own, given after it, is your explicit choice.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"


def main(argv: list[str]) -> None:
    os.chdir(ROOT)
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
               "--server.address", LOOPBACK, *argv]
    os.execv(sys.executable, command)  # the same process: a service manager stops what it started


if __name__ == "__main__":
    main(sys.argv[1:])
