"""Build and check PostgreSQL SCRAM-SHA-256 password verifiers.

``verifier`` computes the verifier that PostgreSQL itself would store in
``pg_authid.rolpassword`` for a password, so a role's password can be set without the
plaintext ever reaching the server or its logs. ``matches`` tells whether a
stored verifier already belongs to a password, so the password is only changed when it
differs (verifiers use a random salt, so comparing strings would never match).

The computation follows RFC 5802 / RFC 7677 and PostgreSQL's ``scram_build_secret``.
The password is first normalised the way PostgreSQL's ``pg_saslprep`` does it
(src/common/saslprep.c), including its fallback to the raw UTF-8 bytes whenever
SASLprep rejects the password. Nothing here ever puts the password in an error message.
"""

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import stringprep
import unicodedata
from typing import Any

from .errors import InputError

SCRAM_SCHEME = "SCRAM-SHA-256"
DEFAULT_ITERATIONS = 4096  # PostgreSQL's default scram_iterations
DEFAULT_SALT_BYTES = 16  # PostgreSQL's SCRAM_DEFAULT_SALT_LEN
MIN_SALT_BYTES = 8
MAX_ITERATIONS = 2**31 - 1  # PostgreSQL stores the iteration count in a C int
KEY_BYTES = 32  # SHA-256 digest size

_B64 = r"[A-Za-z0-9+/]+={0,2}"
_VERIFIER_RE = re.compile(
    rf"{re.escape(SCRAM_SCHEME)}\$([1-9][0-9]{{0,9}}):({_B64})\$({_B64}):({_B64})"
)


# --- SASLprep, as PostgreSQL applies it ------------------------------------------------------


def _prohibited(char: str) -> bool:
    """SASLprep prohibited output (RFC 4013 2.3) or unassigned in Unicode 3.2 (RFC 3454 A.1)."""
    return (
        stringprep.in_table_c12(char)
        or stringprep.in_table_c21_c22(char)
        or stringprep.in_table_c3(char)
        or stringprep.in_table_c4(char)
        or stringprep.in_table_c5(char)
        or stringprep.in_table_c6(char)
        or stringprep.in_table_c7(char)
        or stringprep.in_table_c8(char)
        or stringprep.in_table_c9(char)
        or stringprep.in_table_a1(char)
    )


def _bidi_ok(chars: str) -> bool:
    """RFC 3454 section 6: a string with RandALCat characters has no LCat character and
    starts and ends with a RandALCat character."""
    if not any(stringprep.in_table_d1(char) for char in chars):
        return True
    if any(stringprep.in_table_d2(char) for char in chars):
        return False
    return stringprep.in_table_d1(chars[0]) and stringprep.in_table_d1(chars[-1])


def _saslprep(password: str) -> str | None:
    """Return the SASLprep form of password, or None where PostgreSQL's pg_saslprep fails.

    Mirrors pg_saslprep step by step: pure ASCII is returned unchanged (control characters
    included); otherwise map (C.1.2 spaces to U+0020, B.1 to nothing), reject an empty
    result, NFKC-normalise, and reject prohibited, unassigned or bidi-invalid characters.
    Like PostgreSQL, the prohibition and bidi checks look at the mapped string before
    normalisation, and the normalisation uses the current Unicode version.
    """
    if password.isascii():
        return password
    mapped = "".join(
        " " if stringprep.in_table_c12(char) else char
        for char in password
        if stringprep.in_table_c12(char) or not stringprep.in_table_b1(char)
    )
    if not mapped:
        return None
    if any(_prohibited(char) for char in mapped) or not _bidi_ok(mapped):
        return None
    return unicodedata.normalize("NFKC", mapped)


def _password_bytes(password: str) -> bytes:
    """The bytes PostgreSQL derives the keys from: SASLprep'd, else the raw UTF-8 bytes."""
    prepared = _saslprep(password)
    return (password if prepared is None else prepared).encode("utf-8")


# --- SCRAM-SHA-256 -----------------------------------------------------------------------------


def _scram_keys(password: bytes, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """Return (StoredKey, ServerKey) as defined by RFC 5802 section 3."""
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations, KEY_BYTES)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return stored_key, server_key


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Strictly decode padded standard base64, or return None."""
    try:
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


# --- Argument checks ---------------------------------------------------------------------------


def _check_password(password: Any, name: str) -> str:
    """Validate the password without ever putting its value in a message."""
    if isinstance(password, bool) or not isinstance(password, str):
        raise InputError(
            f"{name}: the password must be a non-empty string, got {type(password).__name__} "
            "(value not shown)"
        )
    if not password:
        raise InputError(f"{name}: the password must be a non-empty string, got ''")
    if "\x00" in password:
        raise InputError(
            f"{name}: the password contains a NUL character, which PostgreSQL cannot store "
            "(value not shown)"
        )
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            f"{name}: the password is not valid Unicode text (it contains lone surrogates) "
            "and cannot be encoded as UTF-8 (value not shown)"
        ) from None
    return str(password)


def _check_iterations(iterations: Any, name: str) -> int:
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise InputError(
            f"{name}: iterations must be a whole number from 1 to {MAX_ITERATIONS}, "
            f"got {iterations!r}"
        )
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise InputError(
            f"{name}: iterations must be a whole number from 1 to {MAX_ITERATIONS}, "
            f"got {iterations}"
        )
    return int(iterations)


def _check_salt(salt: Any, name: str) -> bytes:
    if salt is None:
        return secrets.token_bytes(DEFAULT_SALT_BYTES)
    decoded = _b64decode(salt) if isinstance(salt, str) else None
    if decoded is None:
        shown = repr(str(salt)) if isinstance(salt, str) else type(salt).__name__
        raise InputError(
            f"{name}: salt must be standard, padded base64 text (for example "
            f"'W22ZaJ0SNY7soEsUEjb6gQ=='), or None for a random salt; got {shown[:80]}"
        )
    if len(decoded) < MIN_SALT_BYTES:
        raise InputError(
            f"{name}: salt must decode to at least {MIN_SALT_BYTES} bytes, "
            f"got {len(decoded)} ({str(salt)!r}); PostgreSQL uses {DEFAULT_SALT_BYTES}"
        )
    return decoded


# --- Public -----------------------------------------------------------------------------------


def verifier(
    password: str,
    salt: str | None = None,
    iterations: int = DEFAULT_ITERATIONS,
    name: str = "password",
) -> str:
    """Return the SCRAM-SHA-256 verifier PostgreSQL would store for password.

    Format: ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` (base64 fields).
    salt is base64 text; None draws 16 random bytes, as PostgreSQL does.
    """
    text = _check_password(password, name)
    rounds = _check_iterations(iterations, name)
    salt_bytes = _check_salt(salt, name)
    stored_key, server_key = _scram_keys(_password_bytes(text), salt_bytes, rounds)
    return (
        f"{SCRAM_SCHEME}${rounds}:{_b64encode(salt_bytes)}"
        f"${_b64encode(stored_key)}:{_b64encode(server_key)}"
    )


def matches(password: str, verifier: str | None, name: str = "password") -> bool:
    """True iff verifier is a SCRAM-SHA-256 verifier in PostgreSQL's format for password.

    Anything else (None, '', an md5 hash, malformed text) is simply not a match, so the
    caller sets the password.
    """
    text = _check_password(password, name)
    if not isinstance(verifier, str):
        return False
    match = _VERIFIER_RE.fullmatch(str(verifier))
    if match is None:
        return False
    iterations = int(match.group(1))
    salt, stored_key, server_key = (_b64decode(match.group(i)) for i in (2, 3, 4))
    if iterations > MAX_ITERATIONS or not salt or stored_key is None or server_key is None:
        return False
    if len(stored_key) != KEY_BYTES or len(server_key) != KEY_BYTES:
        return False
    expected_stored, expected_server = _scram_keys(_password_bytes(text), salt, iterations)
    # Evaluate both comparisons, each in constant time.
    stored_ok = hmac.compare_digest(stored_key, expected_stored)
    server_ok = hmac.compare_digest(server_key, expected_server)
    return stored_ok and server_ok
