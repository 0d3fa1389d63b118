"""Load a command-line script of ``data_scripts/`` as a module (it is not a package)."""

import importlib.util
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "data_scripts"


def load_script(name):
    """``data_scripts/<name>.py`` as a fresh module object (its ``main`` not run)."""
    spec = importlib.util.spec_from_file_location(f"data_scripts_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
