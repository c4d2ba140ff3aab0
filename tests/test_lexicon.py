"""faq.lexicon gives exactly what jieba, pypinyin and OpenCC give, without their memory.

The reference is the libraries themselves (``lexicon.Libraries``: the calls faq.features and
faq.normalize made before the lexicon). The compact side is a cache file built the way the bot
builds it: by a child process, into a fresh directory.
"""

from __future__ import annotations

import csv
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import faq
from faq import lexicon
from faq.io import BUNDLED_CATALOGUE, read_rows, validate
from faq.lexicon import Lexicon, Libraries
from faq.matcher import FaqDoc, Matcher
from faq.models import split_alternatives

ROOT = Path(__file__).resolve().parent.parent
QUERY_FILES = (
    ROOT / "tests" / "data" / "dev_queries.csv",
    ROOT / "bench" / "own_queries.csv",
    ROOT / "bench" / "own_queries_2.csv",
)
CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
LIBRARIES = ("jieba", "pypinyin", "opencc_purepy")


@pytest.fixture(scope="module")
def cache_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache file built as the bot builds it on its first start: in a child process."""
    path = tmp_path_factory.mktemp("lexicon") / lexicon.cache_name()
    assert lexicon._build_in_child(path)
    return path


@pytest.fixture(scope="module")
def compact(cache_file: Path) -> Lexicon:
    return Lexicon(cache_file)


@pytest.fixture(scope="module")
def reference() -> Libraries:
    return Libraries()


def corpus() -> list[str]:
    """Every question, alternative and answer of the catalogue and every query of the query sets,
    whole and as the runs of Chinese characters faq.features hands to the lexicon."""
    texts: list[str] = []
    for row in validate(read_rows(BUNDLED_CATALOGUE)):
        texts += [row.question, *split_alternatives(row.alternatives), row.answer]
    for path in QUERY_FILES:
        with path.open(encoding="utf-8") as fh:
            texts += [row["query"] for row in csv.DictReader(fh)]
    runs = [run for text in texts for run in CJK_RUN.findall(text)]
    return texts + runs


def test_words_are_jiebas_on_every_catalogue_text_and_query(compact: Lexicon, reference):
    for text in corpus():
        assert compact.cut(text) == reference.cut(text), text


def test_pinyin_is_pypinyins_on_every_catalogue_text_and_query(compact: Lexicon, reference):
    for text in corpus():
        assert compact.lazy_pinyin(text) == reference.lazy_pinyin(text), text


def test_t2s_is_openccs_on_every_catalogue_text_and_query(compact: Lexicon, reference):
    for text in corpus():
        assert compact.t2s(text) == reference.t2s(text), text
        assert compact.t2s(reference.t2s(text)) == reference.t2s(reference.t2s(text)), text


def test_idf_table_is_jiebas_entry_for_entry_in_order(compact: Lexicon, reference):
    table, want = compact.idf(), reference.idf()
    assert len(table) == len(want)
    assert list(table) == list(want)  # dict order: a duplicate word keeps its first place
    assert all(table[word] == value for word, value in want.items())
    assert table.get("没有这个词的词", 12.0) == 12.0
    assert "没有这个词的词" not in table
    with pytest.raises(KeyError):
        table["没有这个词的词"]


def test_pinyin_of_every_cjk_character_alone_is_pypinyins(compact: Lexicon, reference):
    # Including the ~900 characters pypinyin has no reading for: they come back unchanged.
    for code in [*range(0x3400, 0x4DC0), *range(0x4E00, 0xA000)]:
        ch = chr(code)
        assert compact.lazy_pinyin(ch) == reference.lazy_pinyin(ch), hex(code)


def test_t2s_of_a_long_text_matches_only_between_delimiters_as_opencc_does(
    compact: Lexicon, reference
):
    # opencc_purepy splits texts of 10 000 characters or more at punctuation and spaces.
    text = ("後來，這個軟體的頭髮。" * 1200) + "乾隆皇帝" * 100
    assert len(text) >= 10_000
    assert compact.t2s(text) == reference.t2s(text)
    assert compact.t2s("") == reference.t2s("") == ""


# Random strings: mostly characters and words the libraries know (so that words, phrases and
# traditional characters meet), some of any CJK character, and now and then anything at all.
def _known(compact_file: Path) -> tuple[list[str], list[str]]:
    table = Lexicon(compact_file)
    words = [w for w in list(table.idf())[::50] if w]
    return words, sorted(table._t2s_map)


_CJK = st.characters(min_codepoint=0x3400, max_codepoint=0x4DBF) | st.characters(
    min_codepoint=0x4E00, max_codepoint=0x9FFF
)
_ANY = st.characters(codec="utf-8") | st.sampled_from(" \n\t,.，。！？abc1.5%+-_#&")


@pytest.fixture(scope="module")
def pieces(cache_file: Path) -> st.SearchStrategy[str]:
    words, traditional = _known(cache_file)
    common = "".join(sorted({ch for text in corpus() for ch in text if CJK_RUN.match(ch)}))
    return st.lists(
        st.sampled_from(words)
        | st.sampled_from(traditional)
        | st.sampled_from(common)
        | _CJK
        | _ANY,
        max_size=12,
    ).map("".join)


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_strings_give_the_libraries_output(data, compact: Lexicon, reference, pieces):
    text = data.draw(pieces)
    assert compact.cut(text) == reference.cut(text)
    assert compact.lazy_pinyin(text) == reference.lazy_pinyin(text)
    assert compact.t2s(text) == reference.t2s(text)
    for word in reference.cut(text):
        assert compact.idf().get(word) == reference.idf().get(word)


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(_CJK, min_size=1, max_size=40))
def test_random_cjk_runs_give_the_libraries_output(text: str, compact: Lexicon, reference):
    assert compact.cut(text) == reference.cut(text)
    assert compact.lazy_pinyin(text) == reference.lazy_pinyin(text)
    assert compact.t2s(text) == reference.t2s(text)


def _clear_faq_caches() -> None:
    """Every lru_cache in faq (features, normalize, common ...): they hold the lexicon's output."""
    for name, module in list(sys.modules.items()):
        if name == "faq" or name.startswith("faq."):
            for value in vars(module).values():
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()


@pytest.fixture
def use_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    def use(backend) -> None:
        monkeypatch.setattr(lexicon, "_backend", backend)
        _clear_faq_caches()

    yield use
    _clear_faq_caches()


def test_matcher_decides_exactly_as_with_the_libraries(use_backend, compact, reference):
    rows = validate(read_rows(BUNDLED_CATALOGUE))
    docs = [
        FaqDoc(r.id, r.lang, r.question, tuple(split_alternatives(r.alternatives)), r.answer)
        for r in rows
    ]
    queries = []
    for path in QUERY_FILES:
        with path.open(encoding="utf-8") as fh:
            queries += [row["query"] for row in csv.DictReader(fh)]

    def matches(backend) -> list:
        use_backend(backend)
        matcher = Matcher(docs)
        return [matcher.match(q) for q in queries]

    for query, got, want in zip(queries, matches(compact), matches(reference), strict=True):
        assert got == want, query


def test_the_bot_process_never_imports_the_libraries(cache_file: Path):
    code = """
import json, sys
from faq import features, lexicon, normalize
features.words("密码忘了怎么办"); features.pinyin("附件"); features.background_idf().get("密码")
normalize.normalize("帳號被鎖定了")
print(json.dumps([type(lexicon.backend()).__name__,
                  sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1:]))]))
"""
    env = {**os.environ, "HELPDESK_CACHE_DIR": str(cache_file.parent)}
    done = subprocess.run(
        [sys.executable, "-c", code, *LIBRARIES],
        cwd=Path(faq.__file__).parent.parent,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == ["Lexicon", []]


@pytest.fixture
def cache_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The configured cache directory and the temp one, both empty, under tmp_path."""
    configured, temp = tmp_path / "configured", tmp_path / "tmp"
    monkeypatch.setenv("HELPDESK_CACHE_DIR", str(configured))
    monkeypatch.setattr(lexicon.tempfile, "gettempdir", lambda: str(temp))
    return configured, temp


def test_the_cache_is_built_once_and_then_loaded(cache_dirs, cache_file: Path, monkeypatch):
    configured, _temp = cache_dirs
    built: list[Path] = []

    def build(path: Path) -> bool:  # the real child is tested above: copy its result
        built.append(path)
        shutil.copyfile(cache_file, path)
        return True

    monkeypatch.setattr(lexicon, "_build_in_child", build)
    first, second = lexicon.load(), lexicon.load()
    assert isinstance(first, Lexicon) and isinstance(second, Lexicon)
    assert built == [configured / lexicon.cache_name()] == [first.path] == [second.path]


def test_an_unwritable_cache_directory_falls_back_to_a_temp_one(
    cache_dirs, cache_file: Path, monkeypatch
):
    configured, temp = cache_dirs
    configured.write_text("a file, not a directory")
    monkeypatch.setattr(
        lexicon, "_build_in_child", lambda path: shutil.copyfile(cache_file, path) is not None
    )
    loaded = lexicon.load()
    assert isinstance(loaded, Lexicon)
    assert loaded.path.parent.parent == temp  # its own directory in the temp one


def test_a_truncated_cache_file_is_rebuilt(cache_dirs, cache_file: Path, monkeypatch):
    configured, _temp = cache_dirs
    configured.mkdir()
    path = configured / lexicon.cache_name()
    path.write_bytes(cache_file.read_bytes()[:100_000])  # e.g. a full disk, long ago
    monkeypatch.setattr(
        lexicon, "_build_in_child", lambda p: shutil.copyfile(cache_file, p) is not None
    )
    loaded = lexicon.load()
    assert isinstance(loaded, Lexicon) and loaded.path == path
    assert path.read_bytes() == cache_file.read_bytes()


def test_without_any_cache_the_libraries_themselves_are_used(cache_dirs, monkeypatch):
    monkeypatch.setattr(lexicon, "_build_in_child", lambda path: False)
    assert isinstance(lexicon.load(), Libraries)


def test_a_new_library_version_gets_a_new_cache_file(monkeypatch: pytest.MonkeyPatch):
    before = lexicon.cache_name()
    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata,
        "version",
        lambda name: "9.9.9" if name == "pypinyin" else real(name),
    )
    assert lexicon.cache_name() != before
