"""The bridge from pgfleet's functions to Ansible filters (used on the controller only).

pgfleet raises InputError for bad input and does not import Ansible. ``wrap`` turns a
function into a filter that raises the caller's error type (AnsibleFilterError) instead,
with the same message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .errors import InputError


def wrap(function: Callable[..., Any], error_type: type[Exception]) -> Callable[..., Any]:
    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except InputError as exc:
            raise error_type(str(exc)) from None

    return run


def table(error_type: type[Exception], **functions: Callable[..., Any]) -> dict[str, Any]:
    """A FilterModule.filters() table: {filter name: wrapped function}."""
    return {name: wrap(function, error_type) for name, function in functions.items()}
