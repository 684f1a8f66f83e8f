"""Where MTL Explorer keeps data: one home folder, `$MTL_EXPLORER_HOME` or the user's cache directory."""
from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """The folder holding the data cache, fetched sources, the default run store and user tasks."""
    env = os.environ.get("MTL_EXPLORER_HOME")
    if env:
        home = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        home = Path(base) / "mtl-explorer"
    home.mkdir(parents=True, exist_ok=True)
    return home


def cache_dir() -> Path:
    """Parsed datasets and vocabularies, keyed by content hash; safe to delete."""
    path = data_home() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sources_dir() -> Path:
    """Registry-hosted sources fetched once (VADER sentence ratings, Brown corpus)."""
    path = data_home() / "sources"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_store_path() -> Path:
    return data_home() / "runs.sqlite"


def mlflow_tracking_uri() -> str:
    """The default MLflow tracking store of `export --format mlflow`: a SQLite file in the data home (its
    artifacts beside it, in mlflow-artifacts/), which `mlflow ui --backend-store-uri URI` opens."""
    return f"sqlite:///{(data_home() / 'mlflow.db').resolve().as_posix()}"
