"""Make the repository's filter_plugins importable as top-level modules (import pg_units)."""

import sys
from pathlib import Path

FILTER_PLUGINS = Path(__file__).resolve().parents[2] / "filter_plugins"

if str(FILTER_PLUGINS) not in sys.path:
    sys.path.insert(0, str(FILTER_PLUGINS))
