"""Text corpora for the character-level language-model task (``tasks/text.py``).

Two sources, both returned as one ``str``:

* ``path = None`` — Python's own help texts, ``pydoc_data.topics.topics`` (about 490,000
  characters of English prose and code, ~100 distinct characters), joined as
  ``"\\n\\n".join(topics[k] for k in sorted(topics))`` so the corpus is the same on every run
  of one Python version.
* ``path = "file.txt"`` — the file's bytes decoded as UTF-8, exactly (no newline translation).

``max_chars`` keeps the first ``max_chars`` characters. :func:`encode` turns a text into
integer codes over its sorted distinct characters. Bad input raises
:class:`~samplelab.core.errors.ConfigError` with one line naming ``task.path`` and the fix.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

from samplelab.core.errors import field_error

__all__ = ["corpus_fingerprint", "encode", "load_corpus"]

_FIX_FILE = "point task.path at a UTF-8 text file (or leave it unset for Python's help texts)"


def _python_help_texts() -> str:
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics))


def _read_text(path: str) -> str:
    file = Path(path).expanduser()
    if not file.exists():
        raise field_error("task.path", f"no such file {file}", _FIX_FILE)
    if file.is_dir():
        raise field_error("task.path", f"{file} is a directory, not a text file", f"name a text file inside {file}")
    try:
        raw = file.read_bytes()
    except OSError as err:
        raise field_error("task.path", f"cannot read {file}: {err}", _FIX_FILE) from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        problem = f"{file} is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})"
        raise field_error("task.path", problem, f"convert it to UTF-8 (e.g. iconv -t UTF-8 {file.name})") from err
    if not text:
        raise field_error("task.path", f"{file} is empty", "point task.path at a non-empty UTF-8 text file")
    return text


@functools.lru_cache(maxsize=8)
def load_corpus(path: str | None, max_chars: int | None) -> str:
    """The corpus at ``path`` (``None``: ``pydoc_data.topics``), cut to its first ``max_chars``
    characters when that is set. Cached; raises a one-line ConfigError on a missing file, a
    directory, a non-UTF-8 or an empty file."""
    text = _python_help_texts() if path is None else _read_text(path)
    return text if max_chars is None else text[:max_chars]


@functools.lru_cache(maxsize=8)
def corpus_fingerprint(path: str | None, max_chars: int | None) -> str:
    """First 16 hex digits of the SHA-256 of the corpus text (UTF-8)."""
    return hashlib.sha256(load_corpus(path, max_chars).encode()).hexdigest()[:16]


def encode(text: str) -> tuple[np.ndarray, str]:
    """``(codes, vocabulary)``: ``vocabulary`` is the sorted distinct characters of ``text``
    (V of them) and ``codes`` int32 ``[len(text)]`` in 0..V−1 with ``vocabulary[codes[i]] == text[i]``."""
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    distinct, codes = np.unique(points, return_inverse=True)
    return codes.astype(np.int32).reshape(-1), "".join(map(chr, distinct.tolist()))
