"""`python -m dashboard [streamlit options]`: the dashboard on http://127.0.0.1:8501, from any folder.

Streamlit reads `.streamlit/config.toml` from the current folder only, and without it listens on every
interface. So this runs Streamlit from the repository (its settings apply wherever you start) and names
the loopback address on the command line, which beats any config file; a `--server.address` of your
own, given after it, is your explicit choice.

Streamlit runs in this process (a service manager stops what it started). Before its server starts, this
imports what every page imports and reads the catalog's cards (about a second), so the first visitor does not
wait for them: Streamlit runs a page only when a browser connects, and the modules stay imported. It is done
before the server starts, not beside it, so that no page imports a module while another thread is importing it.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
PRELOADED = ("pandas", "pyarrow", "dashboard.data", "dashboard.state", "dashboard.widgets", "dashboard.i18n",
             "mtl_core.store", "mtl_core.weighting", "mtl_core.tasks")


def preload() -> None:
    """Import the pages' modules and read every task's card (from the catalog index: no dataset is parsed)."""
    import importlib

    try:
        for name in PRELOADED:
            importlib.import_module(name)
        from mtl_core.tasks import card_dict, list_tasks

        for source in list_tasks():
            card_dict(source.card.id)
    except Exception:  # noqa: BLE001 - a page that needs it reports the same error to its visitor
        pass


def main(argv: list[str]) -> None:
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    preload()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(ROOT / "dashboard" / "app.py"), "--server.address", LOOPBACK, *argv]
    sys.exit(cli.main())


if __name__ == "__main__":
    main(sys.argv[1:])
