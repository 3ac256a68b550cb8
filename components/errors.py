"""Engine calls from a page: a result, or a sentence for the user, never a traceback."""
from __future__ import annotations

from typing import Any, Callable


def attempt(fn: Callable, *args, expected: tuple[type[Exception], ...] = (),
            failed: str = "That did not work", **kwargs) -> tuple[Any, str | None]:
    """(fn(*args, **kwargs), None), or (None, a sentence) when it raises: the error's own
    sentence for the typed errors in `expected` (they are written for users), else
    `failed` followed by the error's type and text."""
    try:
        return fn(*args, **kwargs), None
    except expected as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - shown as a sentence, the page stays alive
        return None, f"{failed} ({type(exc).__name__}: {exc})."
