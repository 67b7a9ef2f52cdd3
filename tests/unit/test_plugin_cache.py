"""The plugin_cache callback renders a project filter and test in the main process."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_warm_loads_the_project_filters(monkeypatch):
    monkeypatch.setenv("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    monkeypatch.chdir(ROOT)
    sys.path.insert(0, str(ROOT / "callback_plugins"))
    try:
        import plugin_cache
    finally:
        sys.path.remove(str(ROOT / "callback_plugins"))
    assert plugin_cache.warm() == "main True"
    assert plugin_cache.CallbackModule.CALLBACK_NEEDS_ENABLED


def test_callback_is_enabled_in_ansible_cfg():
    config = (ROOT / "ansible.cfg").read_text()
    assert "callback_plugins = callback_plugins" in config
    assert "plugin_cache" in config.split("callbacks_enabled =")[1].splitlines()[0]
    assert os.path.exists(ROOT / "callback_plugins" / "plugin_cache.py")
