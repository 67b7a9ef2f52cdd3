"""Make the repository's filter_plugins importable as top-level modules (import pg_units)."""

import sys
from pathlib import Path

FILTER_PLUGINS = Path(__file__).resolve().parents[2] / "filter_plugins"

if str(FILTER_PLUGINS) not in sys.path:
    sys.path.insert(0, str(FILTER_PLUGINS))


def load_script(name: str, path: Path):
    """A host script without a .py suffix (roles/*/files/...), imported as module `name`."""
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    loader.exec_module(module)
    return module
