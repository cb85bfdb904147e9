"""The ``optdsl`` command's data files: parameter values by name, from ``.json`` or ``.npz``.

Anything a data file holds that is not a finite number or a rectangular array of finite
numbers per name is a ``DataFileError`` whose message starts with the file (``data.json:3:7:`` where JSON
says where): malformed or non-UTF-8 JSON, JSON nested too deeply to read, a name given
twice, strings, nulls and ragged lists, an ``.npz`` that is not an archive or holds Python
objects (never unpickled).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from optdsl.errors import ArgumentError, ParameterError

__all__ = ["DataFileError", "read_data"]


class DataFileError(ArgumentError):
    """A data file the command cannot use; the message names the file, and the place when there is one."""


def read_data(path: str) -> dict[str, np.ndarray]:
    """The arrays of the ``.json`` or ``.npz`` file at ``path`` by name, whole numbers as float64, all finite.

    ``OSError`` if the file cannot be opened.
    """
    from optdsl.runtime.compiled import as_numeric

    suffix = Path(path).suffix
    if suffix == ".json":
        values = _json(path)
    elif suffix == ".npz":
        values = _npz(path)
    else:
        raise DataFileError(f"{path}: data files are .npz or .json, not {suffix or 'a file without a suffix'!r}")
    arrays = {}
    for name, value in values.items():
        try:
            array = as_numeric(name, value)
        except ParameterError as error:
            raise DataFileError(f"{path}: {error}") from None
        array = array.astype(np.float64) if array.dtype.kind in "biu" else array
        if not np.all(np.isfinite(array)):
            index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
            raise DataFileError(f"{path}: parameter {name!r} has an entry that is not finite: {array[index]} at "
                                f"index {index}")
        arrays[name] = array
    return arrays


def _json(path: str) -> dict[str, Any]:
    from optdsl.grammar.errors import OptEncodingError, decode_utf8

    raw = Path(path).read_bytes()
    try:
        text = decode_utf8(raw, path)
    except OptEncodingError as error:
        raise DataFileError(f"{path}:{error.line}:{error.column}: {error.reason}") from None
    try:
        # Whole numbers as floats: no Python digit limit, and the same dtype as numbers with a point.
        content = json.loads(text, parse_int=float, object_pairs_hook=lambda pairs: _object(path, pairs))
    except json.JSONDecodeError as error:
        raise DataFileError(f"{path}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}") from None
    except RecursionError:
        raise DataFileError(f"{path}: JSON nested too deeply to read") from None
    if not isinstance(content, dict):
        raise DataFileError(f"{path}: expected a JSON object of parameter values by name, "
                            f"got {type(content).__name__}")
    return content


def _object(path: str, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict; a name given twice is an error, not a silent overwrite."""
    content: dict[str, Any] = {}
    for name, value in pairs:
        if name in content:
            raise DataFileError(f"{path}: {name!r} is given twice")
        content[name] = value
    return content


def _npz(path: str) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, zipfile.BadZipFile):
        raise DataFileError(f"{path}: not an .npz archive of arrays (as np.savez writes)") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataFileError(f"{path}: holds one unnamed array (an .npy file); save arrays by name with np.savez")
    with archive:
        arrays = {}
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except ValueError:
                raise DataFileError(f"{path}: array {name!r} holds Python objects, which are not loaded; "
                                    f"save numbers") from None
            except (zipfile.BadZipFile, EOFError, OSError) as error:
                raise DataFileError(f"{path}: array {name!r} cannot be read: {error}") from None
    return arrays
