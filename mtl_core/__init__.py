"""MTL Explorer's engine: task catalog, multi-task trainer, run store and job backends.

Importable and usable without Streamlit; `python -m mtl_core --help` lists the commands.
"""
__version__ = "0.1.0"
