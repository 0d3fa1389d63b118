"""``--set key=value`` overrides: each value parsed by its :class:`~mipnerf_lib.config.Config`
field's type, with the closest field names for a misspelt key."""

from __future__ import annotations

import dataclasses
import difflib

from mipnerf_lib.config.fields import FIELD_TYPES, Config

__all__ = ["apply_overrides"]


_TRUE = ("1", "true", "yes", "on", "t", "y")
_FALSE = ("0", "false", "no", "off", "f", "n")


def _parse_value(key: str, text: str, kind: type):
    text = text.strip()
    try:
        if kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if kind is int:
            try:
                return int(text.replace("_", ""))
            except ValueError:
                value = float(text)  # accept "1e6"
                if not value.is_integer():
                    raise
                return int(value)
        if kind is float:
            return float(text.replace("_", ""))
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            text = text[1:-1]
        return text
    except ValueError:
        raise ValueError(
            f"Cannot parse {key}={text!r}: {key} expects a {kind.__name__}"
            + (f" (one of {_TRUE + _FALSE})" if kind is bool else "")
            + "."
        ) from None


def apply_overrides(config: Config, overrides) -> Config:
    """Apply ``["key=value", ...]`` (e.g. from ``--set``), parsing each value by the field's type.

    Raises ``ValueError`` for malformed items, unknown keys (with the closest field names)
    and unparsable values. The result is not validated; call :meth:`Config.validate`.
    """
    changes = {}
    for item in overrides or ():
        if "=" not in item:
            raise ValueError(f"Override {item!r} must look like key=value, e.g. max_steps=1000.")
        key, text = item.split("=", 1)
        key = key.strip()
        if key not in FIELD_TYPES:
            close = difflib.get_close_matches(key, FIELD_TYPES, n=3)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            raise ValueError(
                f"Unknown config key {key!r} in override {item!r}.{hint} "
                f"Known keys: {', '.join(sorted(FIELD_TYPES))}."
            )
        changes[key] = _parse_value(key, text, FIELD_TYPES[key])
    return dataclasses.replace(config, **changes)
