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


def make_ca(cn: str = "Test CA", days: int = 3650):
    """A self-signed EC CA (key, certificate), valid from yesterday for `days` days."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def load_module(name: str):
    """An Ansible module of library/ (library/<name>.py), imported as module `name`.

    Ansible ships module_utils/ to the hosts as ansible.module_utils; here that name is
    the installed pgfleet package, so the module imports the same files."""
    import importlib
    import importlib.util
    import pkgutil

    import pgfleet

    sys.modules.setdefault("ansible.module_utils.pgfleet", pgfleet)
    for info in pkgutil.iter_modules(pgfleet.__path__):
        try:
            part = importlib.import_module(f"pgfleet.{info.name}")
        except ImportError:  # a piece that needs what this venv lacks; no module uses it here
            continue
        sys.modules.setdefault(f"ansible.module_utils.pgfleet.{info.name}", part)
    path = Path(__file__).resolve().parents[2] / "library" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
