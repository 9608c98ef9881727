"""Where a client gets its API key: the same places, in the same order, as the ``ledger`` CLI."""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path
from typing import Mapping

from ._types import KeyNotFoundError

ENVIRONMENT = "LEDGER_KEY"
"""The environment variable that may hold the key."""

ADMIN_KEY_FILE = "admin.key"
"""The file in a data directory where ``ledger serve`` saved the admin key it generated."""


def read_key(key: str | None = None, key_file: str | os.PathLike[str] | None = None,
             data_dir: str | os.PathLike[str] = "data", environ: Mapping[str, str] | None = None) -> str:
    """The API key, as ``ledger`` client commands find it: ``key``, else the first non-blank line of ``key_file``,
    else the ``LEDGER_KEY`` environment variable, else ``data_dir/admin.key`` (the admin key ``ledger serve``
    generated on its first start). A key file that other users may read gets a warning (chmod 600).

    Raises ValueError when both key and key_file are given, KeyNotFoundError when the chosen source has no key."""
    if key is not None and key_file is not None:
        raise ValueError("give key or key_file, not both")
    if key is not None:
        return key
    if key_file is not None:
        return _read(Path(key_file), f"key file {key_file}")
    environ = os.environ if environ is None else environ
    value = environ.get(ENVIRONMENT, "")
    if value.strip():
        return value.strip()
    path = Path(data_dir) / ADMIN_KEY_FILE
    if not path.exists():
        raise KeyNotFoundError(f"no key: no key, key_file or {ENVIRONMENT}, and no {path} (start `ledger serve "
                               f"--data {data_dir}` once, or give a key)")
    return _read(path, str(path))


def _read(path: Path, what: str) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as ex:
        raise KeyNotFoundError(f"cannot read {what}: {ex.strerror or ex}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.warn(f"{path} is {stat.filemode(mode)}: other users may read the key (chmod 600 {path})",
                      stacklevel=3)
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    raise KeyNotFoundError(f"{what}: the file holds no key")
