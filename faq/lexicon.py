"""jieba, pypinyin and OpenCC t2s over compact tables: the same output for a fraction of the memory.

The matcher needs four things from three NLP libraries: jieba's word segmentation
(``jieba.lcut(text, HMM=True)``), pypinyin's toneless pinyin (``lazy_pinyin(text,
style=Style.NORMAL, errors=lambda chars: list(chars))``), OpenCC's traditional → simplified
conversion (``opencc_purepy.OpenCC("t2s").convert``) and jieba's IDF table. Loaded as Python dicts
their data costs ~190 MB of a ~280 MB bot; here it is at most ~25 MB of file-backed, read-only
pages (shared by every bot process on the machine) and ~1.5 MB of Python objects.

How: a child process imports the libraries once, exports their own data (jieba's prefix dictionary
and HMM tables, pypinyin's phrase and character readings already converted to Style.NORMAL by
pypinyin itself, OpenCC's merged t2s map, jieba's IDF table) into one cache file, checks this
module's output against the libraries on a sample, and renames the file into place. The parent
never imports the libraries: it maps the file (``mmap``) and runs ports of the libraries'
algorithms (jieba's DAG, route and HMM Viterbi; pypinyin's simple and forward-maximum segmentation;
opencc_purepy's greedy starter-union replacement) over open-addressing hash tables in the file.

The cache file is keyed by the libraries' versions and this module's format. It lives in
``$HELPDESK_CACHE_DIR`` or ``~/.cache/helpdesk`` (a temp directory when that is not writable).
It is written under a temporary name and renamed, so concurrent first starts are safe. When no
cache can be built (no writable directory, the child fails, or its output differs from the
libraries') the libraries themselves are used in-process: slower to start and bigger, never wrong.

Ported from jieba 0.42.1, pypinyin 0.55.0 and opencc_purepy 1.5.0; tests/test_lexicon.py pins the
output against the installed libraries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mmap
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import Iterable, Iterator, Mapping
from math import log
from pathlib import Path
from typing import Any, Protocol
from zlib import crc32

logger = logging.getLogger(__name__)

# Bump when the file layout or what the builder exports changes: old files are then ignored.
FORMAT = 1
_MAGIC = b"HDLEX01\n"
_PREAMBLE = 64  # magic, then the meta JSON's offset and length, then padding
_PACKAGES = ("jieba", "pypinyin", "opencc-purepy")
_BUILD_TIMEOUT_S = 600
_ENCODING = ("utf-8", "surrogatepass")  # a lone surrogate is a key like any other, never an error

# pypinyin lookup flags, per key of the pinyin table.
_PREFIX = 1  # a prefix of some phrase (pypinyin's mmseg PrefixSet)
_PHRASE = 2  # a phrase of PHRASES_DICT


# --- the file: hash tables over one mapped buffer ----------------------------------------------


class _Table:
    """A read-only ``str`` → row index over a mapped file.

    Keys are UTF-8 in one blob with ``array('I')`` offsets; ``slots`` is an open-addressing hash
    table (CRC-32 of the key, linear probing) of row + 1, 0 for empty. Values live in parallel
    arrays held by the caller, indexed by row: nothing is unpacked into Python objects up front.
    """

    __slots__ = ("_base", "_buf", "_mask", "_off", "_slots")

    def __init__(self, buf: mmap.mmap, base: int, off: memoryview, slots: memoryview) -> None:
        self._buf, self._base, self._off, self._slots = buf, base, off, slots
        self._mask = len(slots) - 1

    def __len__(self) -> int:
        return len(self._off) - 1

    def find(self, key: str) -> int:
        """The row of ``key``, or -1."""
        b = key.encode(*_ENCODING)
        slots, off, buf, base, mask = self._slots, self._off, self._buf, self._base, self._mask
        h = crc32(b) & mask
        while True:
            row = slots[h]
            if not row:
                return -1
            row -= 1
            if buf[base + off[row] : base + off[row + 1]] == b:
                return row
            h = (h + 1) & mask

    def key(self, row: int) -> str:
        return self._buf[self._base + self._off[row] : self._base + self._off[row + 1]].decode(
            *_ENCODING
        )


def _pack_strings(items: Iterable[str]) -> tuple[bytes, array]:
    """Strings as one UTF-8 blob and the ``array('I')`` of their n + 1 offsets."""
    encoded = [s.encode(*_ENCODING) for s in items]
    off = array("I", [0])
    total = 0
    for b in encoded:
        total += len(b)
        off.append(total)
    return b"".join(encoded), off


def _pack_table(keys: list[str]) -> dict[str, bytes | array]:
    """The sections of a :class:`_Table` over distinct ``keys`` (row i is keys[i])."""
    blob, off = _pack_strings(keys)
    size = 16
    while size * 2 < len(keys) * 3:  # load factor at most 2/3: short probes, small table
        size *= 2
    mask = size - 1
    slots = array("I", bytes(4 * size))
    for row in range(len(keys)):
        b = blob[off[row] : off[row + 1]]
        h = crc32(b) & mask
        while slots[h]:
            h = (h + 1) & mask
        slots[h] = row + 1
    return {"blob": blob, "off": off, "slots": slots}


def _write(path: Path, sections: dict[str, bytes | array], meta: dict[str, Any]) -> None:
    """Sections (8-byte aligned) and the meta JSON (with the section index) into ``path``."""
    index: dict[str, list[Any]] = {}
    with path.open("wb") as fh:
        fh.write(bytes(_PREAMBLE))
        pos = _PREAMBLE
        for name, data in sections.items():
            raw = data.tobytes() if isinstance(data, array) else data
            code = data.typecode if isinstance(data, array) else "B"
            index[name] = [pos, len(raw), code]
            fh.write(raw)
            pos += len(raw)
            pad = -pos % 8
            fh.write(bytes(pad))
            pos += pad
        body = json.dumps({**meta, "sections": index}, ensure_ascii=False).encode()
        fh.write(body)
        fh.seek(0)
        fh.write(_MAGIC + pos.to_bytes(8, "little") + len(body).to_bytes(8, "little"))
        fh.flush()
        os.fsync(fh.fileno())


class _File:
    """A mapped cache file: its meta and its sections as typed memoryviews."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as fh:
            self.buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        head = self.buf[:_PREAMBLE]
        meta_at = int.from_bytes(head[8:16], "little")
        meta_len = int.from_bytes(head[16:24], "little")
        if head[:8] != _MAGIC or meta_at + meta_len != len(self.buf):
            raise ValueError(f"{path}: not a complete lexicon file")
        self.meta: dict[str, Any] = json.loads(self.buf[meta_at : meta_at + meta_len])
        if self.meta.get("format") != FORMAT:
            raise ValueError(f"{path}: lexicon format {self.meta.get('format')}, not {FORMAT}")
        self._view = memoryview(self.buf)

    def section(self, name: str) -> memoryview:
        pos, length, code = self.meta["sections"][name]
        return self._view[pos : pos + length].cast(code)

    def table(self, name: str) -> _Table:
        blob_at = self.meta["sections"][name + ".blob"][0]
        return _Table(self.buf, blob_at, self.section(name + ".off"), self.section(name + ".slots"))

    def strings(self, name: str) -> _Strings:
        return _Strings(
            self.buf, self.meta["sections"][name + ".blob"][0], self.section(name + ".off")
        )


class _Strings:
    """The i-th of a packed list of strings."""

    __slots__ = ("_base", "_buf", "_off")

    def __init__(self, buf: mmap.mmap, base: int, off: memoryview) -> None:
        self._buf, self._base, self._off = buf, base, off

    def __getitem__(self, i: int) -> str:
        return self._buf[self._base + self._off[i] : self._base + self._off[i + 1]].decode(
            *_ENCODING
        )


# --- the services over the file -----------------------------------------------------------------


class IdfTable(Mapping[str, float]):
    """jieba's IDF table as a read-only mapping, in the file's (= the dict's insertion) order."""

    def __init__(self, table: _Table, values: memoryview) -> None:
        self._table, self._values = table, values

    def __getitem__(self, word: str) -> float:
        row = self._table.find(word)
        if row < 0:
            raise KeyError(word)
        return self._values[row]

    def get(self, word: str, default: Any = None) -> Any:
        row = self._table.find(word)
        return default if row < 0 else self._values[row]

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self._table.find(word) >= 0

    def __len__(self) -> int:
        return len(self._table)

    def __iter__(self) -> Iterator[str]:
        return (self._table.key(row) for row in range(len(self._table)))


class _Backend(Protocol):
    def cut(self, text: str) -> list[str]: ...
    def lazy_pinyin(self, text: str) -> list[str]: ...
    def t2s(self, text: str) -> str: ...
    def idf(self) -> Mapping[str, float]: ...


class Lexicon:
    """The four services over one mapped cache file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        f = _File(path)
        meta = f.meta
        self.path = path
        # jieba: the prefix dictionary (word → frequency, 0 for a mere prefix) and its total.
        self._freq_table, self._freq = f.table("freq"), f.section("freq.val")
        self._logtotal = log(meta["jieba"]["total"])
        self._re_han = re.compile(meta["jieba"]["re_han"])
        self._re_skip = re.compile(meta["jieba"]["re_skip"])
        # jieba.finalseg: the HMM. Emission log-probabilities per character, 4 columns (BMES).
        hmm = meta["hmm"]
        self._min_float: float = hmm["min_float"]
        self._start_p: dict[str, float] = hmm["start_p"]
        self._trans_p: dict[str, dict[str, float]] = hmm["trans_p"]
        self._prev_status: dict[str, str] = hmm["prev_status"]
        self._hmm_re_han = re.compile(hmm["re_han"])
        self._hmm_re_skip = re.compile(hmm["re_skip"])
        self._emit_table, self._emit = f.table("emit"), f.section("emit.val")
        # pypinyin: phrase prefixes, phrases and characters with their pinyin (Style.NORMAL).
        self._py_table, self._py_flags = f.table("py"), f.section("py.val")
        self._py_out = f.strings("py.out")
        self._re_hans = re.compile(meta["pinyin"]["re_hans"])
        # OpenCC t2s: small (~5k keys), so an ordinary dict and per-starter key lengths.
        t2s = meta["t2s"]
        self._t2s_map: dict[str, str] = t2s["map"]
        self._t2s_cap: int = t2s["cap"]
        self._t2s_delims = re.compile("[" + "".join(map(re.escape, t2s["delimiters"])) + "]")
        lengths: dict[str, set[int]] = {}
        for key in self._t2s_map:
            if key:
                lengths.setdefault(key[0], set()).add(len(key))
        self._t2s_lengths = {k: tuple(sorted(v, reverse=True)) for k, v in lengths.items()}
        self._idf = IdfTable(f.table("idf"), f.section("idf.val"))
        self._file = f  # keeps the mapping open

    # jieba ------------------------------------------------------------------------------------

    def _freq_get(self, word: str) -> int | None:
        row = self._freq_table.find(word)
        return None if row < 0 else self._freq[row]

    def cut(self, text: str) -> list[str]:
        """``jieba.lcut(text, HMM=True)`` (jieba.Tokenizer.cut, accurate mode)."""
        out: list[str] = []
        re_han, re_skip = self._re_han, self._re_skip
        for blk in re_han.split(text):
            if not blk:
                continue
            if re_han.match(blk):
                out.extend(self._cut_dag(blk))
            else:
                for x in re_skip.split(blk):
                    if re_skip.match(x):
                        out.append(x)
                    else:
                        out.extend(x)
        return out

    def _dag_route(self, sentence: str) -> list[tuple[float, int]]:
        """jieba's get_DAG and calc: the best route's (log probability, word end) per start."""
        n = len(sentence)
        find, freq = self._freq_table.find, self._freq
        dag: list[list[tuple[int, int]]] = []  # per start: (end index, frequency)
        for k in range(n):
            ends: list[tuple[int, int]] = []
            i = k
            frag = sentence[k]
            while i < n:
                row = find(frag)
                if row < 0:
                    break
                if freq[row]:
                    ends.append((i, freq[row]))
                i += 1
                frag = sentence[k : i + 1]
            if not ends:
                f = self._freq_get(sentence[k])
                ends.append((k, f or 1))
            dag.append(ends)
        route: list[tuple[float, int]] = [(0, 0)] * (n + 1)
        logtotal = self._logtotal
        for idx in range(n - 1, -1, -1):
            route[idx] = max((log(f) - logtotal + route[x + 1][0], x) for x, f in dag[idx])
        return route

    def _cut_dag(self, sentence: str) -> Iterator[str]:
        """jieba's __cut_DAG: the route, runs of single characters re-cut by the HMM."""
        route = self._dag_route(sentence)
        x = 0
        buf = ""
        n = len(sentence)
        while x < n:
            y = route[x][1] + 1
            l_word = sentence[x:y]
            if y - x == 1:
                buf += l_word
            else:
                if buf:
                    if len(buf) == 1:
                        yield buf
                        buf = ""
                    else:
                        if not self._freq_get(buf):
                            yield from self._hmm_cut(buf)
                        else:
                            yield from buf
                        buf = ""
                yield l_word
            x = y
        if buf:
            if len(buf) == 1:
                yield buf
            elif not self._freq_get(buf):
                yield from self._hmm_cut(buf)
            else:
                yield from buf

    def _hmm_cut(self, sentence: str) -> Iterator[str]:
        """jieba.finalseg.cut."""
        re_han, re_skip = self._hmm_re_han, self._hmm_re_skip
        for blk in re_han.split(sentence):
            if re_han.match(blk):
                yield from self._viterbi_cut(blk)
            else:
                for x in re_skip.split(blk):
                    if x:
                        yield x

    def _emit_p(self, ch: str) -> tuple[float, float, float, float]:
        row = self._emit_table.find(ch)
        if row < 0:
            m = self._min_float
            return (m, m, m, m)
        e = self._emit
        return (e[4 * row], e[4 * row + 1], e[4 * row + 2], e[4 * row + 3])

    def _viterbi_cut(self, sentence: str) -> Iterator[str]:
        """jieba.finalseg's __cut with its viterbi, states in the order "BMES"."""
        min_float, start_p, trans_p = self._min_float, self._start_p, self._trans_p
        prev_status = self._prev_status
        emits = [dict(zip("BMES", self._emit_p(ch), strict=True)) for ch in sentence]
        v: list[dict[str, float]] = [{}]
        path: dict[str, list[str]] = {}
        for y in "BMES":
            v[0][y] = start_p[y] + emits[0][y]
            path[y] = [y]
        for t in range(1, len(sentence)):
            v.append({})
            newpath = {}
            for y in "BMES":
                em_p = emits[t][y]
                prob, state = max(
                    [
                        (v[t - 1][y0] + trans_p[y0].get(y, min_float) + em_p, y0)
                        for y0 in prev_status[y]
                    ]
                )
                v[t][y] = prob
                newpath[y] = [*path[state], y]
            path = newpath
        _prob, state = max((v[len(sentence) - 1][y], y) for y in "ES")
        pos_list = path[state]
        begin, nexti = 0, 0
        for i, char in enumerate(sentence):
            pos = pos_list[i]
            if pos == "B":
                begin = i
            elif pos == "E":
                yield sentence[begin : i + 1]
                nexti = i + 1
            elif pos == "S":
                yield char
                nexti = i + 1
        if nexti < len(sentence):
            yield sentence[nexti:]

    # pypinyin ---------------------------------------------------------------------------------

    def lazy_pinyin(self, text: str) -> list[str]:
        """``lazy_pinyin(text, style=Style.NORMAL, errors=lambda chars: list(chars))``."""
        out: list[str] = []
        for chunk in self._simple_seg(text):
            if not self._re_hans.match(chunk):
                out.extend(chunk)  # no pinyin: the errors callback keeps its characters
                continue
            for word in self._mmseg(chunk):
                row = self._py_table.find(word)
                if row >= 0 and (len(word) == 1 or self._py_flags[row] & _PHRASE):
                    out.extend(self._py_out[row].split("\x1f"))
                else:  # a character pypinyin has no reading for: kept as it is
                    out.append(word)
        return out

    def _simple_seg(self, text: str) -> list[str]:
        """pypinyin.seg.simpleseg._seg: runs of characters with and without pinyin."""
        if self._re_hans.fullmatch(text):  # the usual case; not .match: "$" allows a final "\n"
            return [text]
        s = ""
        ret: list[str] = []
        flag = 0  # 0: the last character has pinyin, 1: it has not
        for n, c in enumerate(text):
            if self._re_hans.match(c):
                if n == 0:
                    flag = 0
                if flag == 0:
                    s += c
                else:
                    ret.append(s)
                    flag = 0
                    s = c
            else:
                if n == 0:
                    flag = 1
                if flag == 1:
                    s += c
                else:
                    ret.append(s)
                    flag = 1
                    s = c
        ret.append(s)
        return ret

    def _py_flag(self, word: str) -> int:
        row = self._py_table.find(word)
        return 0 if row < 0 else self._py_flags[row]

    def _mmseg(self, text: str) -> Iterator[str]:
        """pypinyin.seg.mmseg.Seg.cut with no_non_phrases=True: forward maximum matching."""
        remain = text
        while remain:
            last_valid_word = ""
            last_valid_index = 0
            for index in range(len(remain)):
                word = remain[: index + 1]
                flags = self._py_flag(word)
                if flags & _PREFIX:
                    if flags & _PHRASE:
                        last_valid_word = word
                        last_valid_index = index + 1
                else:
                    if last_valid_word:
                        yield last_valid_word
                        remain = remain[last_valid_index:]
                    else:
                        yield remain[0]
                        remain = remain[1:]
                    break
            else:
                if last_valid_word:
                    yield last_valid_word
                    remain = remain[last_valid_index:]
                else:
                    if not self._py_flag(remain) & _PHRASE:
                        yield from remain
                    else:
                        yield remain
                    break

    # OpenCC -----------------------------------------------------------------------------------

    def t2s(self, text: str) -> str:
        """``OpenCC("t2s").convert(text)`` (opencc_purepy's union_replace)."""
        if not text:
            return ""
        n = len(text)
        ranges: Iterable[tuple[int, int]] = ((0, n),)
        if n >= 10_000:  # opencc_purepy splits long texts at delimiters, matching within parts
            ranges = self._t2s_ranges(text)
        get, lengths, cap = self._t2s_map.get, self._t2s_lengths.get, self._t2s_cap
        out: list[str] = []
        for start, end in ranges:
            i = start
            while i < end:
                starter = text[i]
                remaining = end - i
                for length in lengths(starter, ()):
                    if length > remaining or (cap and length > cap):
                        continue
                    replacement = get(text[i : i + length])
                    if replacement is not None:
                        out.append(replacement)
                        i += length
                        break
                else:
                    out.append(starter)
                    i += 1
        return "".join(out)

    def _t2s_ranges(self, text: str) -> list[tuple[int, int]]:
        ranges = []
        start = 0
        for match in self._t2s_delims.finditer(text):
            ranges.append((start, match.end()))
            start = match.end()
        if start < len(text):
            ranges.append((start, len(text)))
        return ranges

    # IDF --------------------------------------------------------------------------------------

    def idf(self) -> Mapping[str, float]:
        return self._idf


class Libraries:
    """The same services from the libraries themselves: the fallback, and the reference."""

    def __init__(self) -> None:
        import jieba
        from opencc_purepy import OpenCC
        from pypinyin import Style, lazy_pinyin

        jieba.setLogLevel(logging.WARNING)
        self._jieba, self._opencc = jieba, OpenCC("t2s")
        self._lazy_pinyin, self._normal = lazy_pinyin, Style.NORMAL
        self._idf: dict[str, float] | None = None

    def cut(self, text: str) -> list[str]:
        return self._jieba.lcut(text, HMM=True)

    def lazy_pinyin(self, text: str) -> list[str]:
        return self._lazy_pinyin(text, style=self._normal, errors=lambda chars: list(chars))

    def t2s(self, text: str) -> str:
        return self._opencc.convert(text)

    def idf(self) -> Mapping[str, float]:
        if self._idf is None:
            self._idf = _read_idf(Path(self._jieba.__file__).parent / "analyse" / "idf.txt")
        return self._idf


def _read_idf(path: Path) -> dict[str, float]:
    """jieba's IDF file, read the way faq.features always read it."""
    table: dict[str, float] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            word, _, value = line.rstrip("\n").partition(" ")
            table[word] = float(value)
    return table


# --- where the cache lives, and loading it --------------------------------------------------------


def cache_name() -> str:
    """The cache file's name: changes with any library's version and with this module's format."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "?"
    key = json.dumps(
        {
            "format": FORMAT,
            "packages": versions,
            "byteorder": sys.byteorder,
            "itemsize": array("I").itemsize,
        },
        sort_keys=True,
    )
    return f"lexicon-{hashlib.sha256(key.encode()).hexdigest()[:16]}.bin"


def cache_dirs() -> list[Path]:
    """Where the cache may live, preferred first: the configured directory, then a temp one."""
    dirs: list[Path] = []
    configured = os.environ.get("HELPDESK_CACHE_DIR")
    if configured:
        dirs.append(Path(configured))
    else:
        # No home directory (a bare service account): then the temp one only.
        with contextlib.suppress(RuntimeError):
            dirs.append(Path.home() / ".cache" / "helpdesk")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return [*dirs, Path(tempfile.gettempdir()) / f"helpdesk-cache-{uid}"]


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK | os.X_OK)


def _build_in_child(path: Path) -> bool:
    """Build ``path`` in a child process, so this one never holds the libraries' data."""
    root = Path(__file__).resolve().parent.parent
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from faq.lexicon import build_main; sys.exit(build_main(sys.argv[2]))"
    )
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, str(root), str(path)],
            capture_output=True,
            text=True,
            timeout=_BUILD_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning("lexicon cache: could not run the builder: %s", exc)
        return False
    if done.returncode != 0:
        tail = (done.stderr or "").strip().splitlines()[-5:]
        logger.warning(
            "lexicon cache: builder failed (exit %s): %s", done.returncode, " | ".join(tail)
        )
        return False
    logger.info("lexicon cache built in %.1f s: %s", time.perf_counter() - started, path)
    return True


def load() -> _Backend:
    """The compact lexicon from the cache (built first if need be), else the libraries."""
    name = cache_name()
    dirs = cache_dirs()
    for directory in dirs:
        path = directory / name
        if path.is_file():
            try:
                return Lexicon(path)
            except (OSError, ValueError, KeyError) as exc:
                logger.warning("lexicon cache %s unusable, rebuilding: %s", path, exc)
    writable = next((d for d in dirs if _writable(d)), None)
    if writable is not None and _build_in_child(writable / name):
        try:
            return Lexicon(writable / name)
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("lexicon cache %s unusable: %s", writable / name, exc)
    # One failed build is enough: a second directory would fail the same way, as slowly.
    logger.warning("lexicon cache unavailable: using jieba, pypinyin and OpenCC in-process")
    return Libraries()


_lock = threading.Lock()
_backend: _Backend | None = None


def backend() -> _Backend:
    """The process's lexicon, loaded on first use (thread-safe: index rebuilds run in threads)."""
    global _backend
    if _backend is None:
        with _lock:
            if _backend is None:
                _backend = load()
    return _backend


def cut(text: str) -> list[str]:
    """``jieba.lcut(text, HMM=True)``."""
    return backend().cut(text)


def lazy_pinyin(text: str) -> list[str]:
    """``pypinyin.lazy_pinyin(text, style=Style.NORMAL, errors=lambda chars: list(chars))``."""
    return backend().lazy_pinyin(text)


def t2s(text: str) -> str:
    """``opencc_purepy.OpenCC("t2s").convert(text)``."""
    return backend().t2s(text)


def idf() -> Mapping[str, float]:
    """jieba's IDF table (analyse/idf.txt) as a read-only mapping word → IDF."""
    return backend().idf()


class T2S:
    """A stand-in for ``OpenCC("t2s")``: ``convert`` only, loading nothing until first used."""

    def convert(self, text: str) -> str:
        return t2s(text)


# --- the builder (runs in the child process) ------------------------------------------------------


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"cannot build the compact lexicon: {what}")


def _export(reference: Libraries) -> tuple[dict[str, bytes | array], dict[str, Any]]:
    """The libraries' data as sections and meta of a cache file."""
    import jieba
    import jieba.finalseg as finalseg
    import pypinyin.seg.mmseg as mmseg
    from opencc_purepy import OpenCC
    from opencc_purepy.core import DELIMITERS
    from pypinyin import Style
    from pypinyin import lazy_pinyin as library_pinyin
    from pypinyin.constants import PHRASES_DICT, PINYIN_DICT, RE_HANS

    jieba.setLogLevel(logging.WARNING)
    # What the ports assume of the libraries; anything else and the libraries are used instead.
    _require(not finalseg.Force_Split_Words, "jieba.finalseg: forced splits")
    _require(mmseg.seg._no_non_phrases, "pypinyin's mmseg allows non-phrases")

    sections: dict[str, bytes | array] = {}

    def add_table(name: str, keys: list[str]) -> None:
        for part, data in _pack_table(keys).items():
            sections[f"{name}.{part}"] = data

    # jieba's prefix dictionary, as jieba itself builds it (its own cache file or dict.txt).
    tokenizer = jieba.dt
    tokenizer.initialize()
    freq_keys = list(tokenizer.FREQ)
    add_table("freq", freq_keys)
    sections["freq.val"] = array("I", (tokenizer.FREQ[k] for k in freq_keys))

    # jieba's HMM: emission per character in columns B, M, E, S; the rest is small.
    emit_keys = sorted(set().union(*finalseg.emit_P.values()))
    add_table("emit", emit_keys)
    sections["emit.val"] = array(
        "d",
        (finalseg.emit_P[s].get(ch, finalseg.MIN_FLOAT) for ch in emit_keys for s in "BMES"),
    )

    # pypinyin: every phrase prefix (flags) and the final pinyin of every phrase and character,
    # computed by pypinyin itself (a one-word list is converted without segmenting it).
    def errors(chars: str) -> list[str]:
        return list(chars)

    flags: dict[str, int] = {}
    for phrase in PHRASES_DICT:
        for i in range(1, len(phrase) + 1):
            flags[phrase[:i]] = flags.get(phrase[:i], 0) | _PREFIX
        flags[phrase] |= _PHRASE
    for code in PINYIN_DICT:
        flags.setdefault(chr(code), 0)
    py_keys = list(flags)
    outputs = []
    for key in py_keys:
        if len(key) == 1 or flags[key] & _PHRASE:
            pys = library_pinyin([key], style=Style.NORMAL, errors=errors)
            _require(bool(pys) and not any("\x1f" in p for p in pys), f"pinyin of {key!r}")
            outputs.append("\x1f".join(pys))
        else:
            outputs.append("")
    add_table("py", py_keys)
    sections["py.val"] = array("B", (flags[k] for k in py_keys))
    sections["py.out.blob"], sections["py.out.off"] = _pack_strings(outputs)

    # OpenCC t2s: the merged, precedence-resolved map opencc_purepy converts with.
    refs = OpenCC("t2s")._get_dict_refs("t2s")
    _require(refs.round_2 is None and refs.round_3 is None, "OpenCC t2s: more than one round")
    union = refs.round_1

    # jieba's IDF table, read as faq.features always read it.
    idf = reference.idf()
    idf_keys = list(idf)
    add_table("idf", idf_keys)
    sections["idf.val"] = array("d", (idf[k] for k in idf_keys))

    meta = {
        "format": FORMAT,
        "jieba": {
            "total": tokenizer.total,
            "re_han": jieba.re_han_default.pattern,
            "re_skip": jieba.re_skip_default.pattern,
        },
        "hmm": {
            "min_float": finalseg.MIN_FLOAT,
            "start_p": finalseg.start_P,
            "trans_p": finalseg.trans_P,
            "prev_status": finalseg.PrevStatus,
            "re_han": finalseg.re_han.pattern,
            "re_skip": finalseg.re_skip.pattern,
        },
        "pinyin": {"re_hans": RE_HANS.pattern},
        "t2s": {
            "map": dict(union.merged_map),
            "cap": union.cap,
            "delimiters": sorted(DELIMITERS),
        },
    }
    return sections, meta


def _self_check(lexicon: Lexicon, reference: Libraries, samples: int = 400) -> list[str]:
    """Differences between ``lexicon`` and the libraries on a seeded sample (none expected)."""
    import random

    rng = random.Random(20240601)
    t2s_keys = list(lexicon._t2s_map)
    idf = reference.idf()
    idf_keys = list(idf)
    pieces = [*t2s_keys, *idf_keys[:: max(1, len(idf_keys) // 5000)], "ab", "1.5", "，", " "]
    problems: list[str] = []
    for _ in range(samples):
        text = "".join(
            rng.choice(pieces) if rng.random() < 0.7 else chr(rng.randint(0x3400, 0x9FFF))
            for _ in range(rng.randint(1, 12))
        )
        for name in ("cut", "lazy_pinyin", "t2s"):
            got, want = getattr(lexicon, name)(text), getattr(reference, name)(text)
            if got != want:
                problems.append(f"{name}({text!r}): {got!r} != {want!r}")
    for word in rng.sample(idf_keys, 1000):
        if lexicon.idf().get(word) != idf[word]:
            problems.append(f"idf({word!r})")
    if len(lexicon.idf()) != len(idf):
        problems.append("idf: size")
    return problems


def build(path: Path) -> None:
    """Export the libraries' data to ``path`` atomically, after checking the result."""
    reference = Libraries()
    sections, meta = _export(reference)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _write(tmp, sections, meta)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would keep the cache from other users of the dir
        problems = _self_check(Lexicon(tmp), reference)
        if problems:
            raise RuntimeError("compact lexicon differs: " + "; ".join(problems[:5]))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def build_main(target: str) -> int:
    """Entry point of the builder child process."""
    logging.basicConfig(level=logging.WARNING)
    build(Path(target))
    return 0
