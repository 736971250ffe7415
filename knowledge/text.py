"""Text normalisation for search, the same for documents and queries (pure, no I/O).

PostgreSQL's own dictionaries cover few of the team's languages and the embedded server has
neither ``unaccent`` nor ``pg_trgm``, so words become search terms here, in Python, and the
database only stores and matches them (``tsvector`` of ready terms, ``simple`` semantics):

1. text is cut into tokens with their offsets in the original (Chinese runs by ``jieba``);
2. each word is lower-cased and lemmatised with ``simplemma`` in the first of the document's
   languages whose dictionary knows it (``серверы`` -> ``сервер``, ``zdroje`` -> ``zdroj``);
3. the lemma is folded: diacritics removed (``česky`` -> ``cesky``, ``źródło`` -> ``zrodlo``);
4. a light suffix stemmer cuts one common ending, so a form no dictionary knows (a word typed
   without its diacritics, ``tiskarny``) still meets its lemma (``tiskárna``): ``tiskarn``.

A query word becomes a *group*: its terms under every candidate language, any of which may
match. Offsets are kept so that snippets highlight the original words, never the terms.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

from common.languages import KNOWN

LANGUAGES: tuple[str, ...] = KNOWN  # articles may be in any known language, translated texts or not
# our language code -> simplemma's (Croatian is part of its Serbo-Croatian dictionary)
_SIMPLEMMA_CODES = {"en": "en", "cs": "cs", "pl": "pl", "ru": "ru", "hr": "hbs"}
MAX_TERM_LENGTH = 100  # longer tokens (a pasted blob) are not searchable terms
MAX_POSITION = 16383  # PostgreSQL's largest tsvector position

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD_CHAR = rf"(?:(?![{_HAN}])\w)"
_JOINERS = "-./@:+_'’"
_TOKEN = re.compile(rf"(?P<han>[{_HAN}]+)|(?P<word>{_WORD_CHAR}+(?:[{re.escape(_JOINERS)}]{_WORD_CHAR}+)*)")
_PART_SPLIT = re.compile(rf"[{re.escape(_JOINERS)}]+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")

# letters NFKD does not decompose into a base letter and a mark
_FOLD_EXTRA = str.maketrans({"ł": "l", "đ": "d", "ß": "ss", "ø": "o", "æ": "ae", "œ": "oe", "ı": "i", "ё": "е", "й": "и"})

# one ending is cut, the longest that leaves a stem of at least the given length
_LATIN_ENDINGS = tuple(sorted(
    {"ovi", "ami", "ach", "ech", "ich", "ych", "ymi", "imi", "emu", "ego", "eho", "ymu", "imu", "ima", "ama",
     "om", "em", "ou", "ov", "ej", "ih", "im", "ym", "iu", "es", "a", "e", "i", "o", "u", "y", "s"},
    key=len, reverse=True,
))
_CYRILLIC_ENDINGS = tuple(sorted(
    {"ами", "ями", "ого", "его", "ому", "ему", "ыми", "ими", "ах", "ях", "ов", "ев", "еи", "ои", "ыи", "ии", "ая", "яя",
     "ое", "ее", "ые", "ие", "ом", "ем", "ам", "ям", "ую", "юю", "а", "я", "о", "е", "ы", "и", "у", "ю", "ь"},
    key=len, reverse=True,
))

# function words that carry no meaning for search (folded, as terms are)
STOP_WORDS = frozenset(
    """
    a an and are as at be been but by can do does for from has have how i if in into is it its no not of on or
    our so than that the their then there these this to too was we were what when where which who why will with
    you your after again all also any been before being both did down each few further had he her here him his
    me more most my nor off once only other out over own same she should some such them they those through under
    until up very while would could cannot
    a aby ale ani az bez by byl byla bylo co do i jak jako je jeho jej ji jsem jsme jsou k kde kdyz ke ktery
    ktera ktere mezi mi na nad nam ne nebo neni nez o od po pod pro pri s se si ta tak take tam ten tento to
    tu ty u uz v ve vsak z za ze
    aby ale ani bo by byc byl byla bylo co czy dla do gdy go i ich ja jak jako jednak jest jego jej juz ku lub
    ma mi na nad nie niz o od po pod przez przy sa sie ta tak takze tam te ten to tu w we z za ze zas
    a ali da do i ih ili iz je jer kad kako koji koja koje li na nad ne nego niti o od po pod pri sa se su
    ta te to u uz za zbog bio bila bilo biti sam smo ste nije nisu
    а без бы был была были было в во вот все да для до его ее если есть же за и из или им их к как ко когда
    ли мы на над не нет но о об от по под при с со так также то у уже чем что это эта этот я
    的 了 是 在 和 有 我 也 就 都 而 及 与 或 着 把 被 让 给 从 向 对 吗 呢 吧 啊 个 这 那 之
    """.split()
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Token:
    """A word of the original text (``text[start:end]``) and the search terms it stands for."""

    start: int
    end: int
    terms: tuple[str, ...]


def fold(text: str) -> str:
    """Lower case without diacritics: ``Źródło`` -> ``zrodlo``, ``Серверы`` -> ``серверы``."""
    lowered = text.lower().translate(_FOLD_EXTRA)
    decomposed = unicodedata.normalize("NFKD", lowered)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def stem(folded: str) -> str:
    """Cut one common ending of a folded word (Slavic and English inflections); identifiers
    with digits and short words stay as they are."""
    if any(ch.isdigit() for ch in folded):
        return folded
    if _CYRILLIC.search(folded):
        endings, shortest = _CYRILLIC_ENDINGS, 3
    else:
        endings, shortest = _LATIN_ENDINGS, 4
    for ending in endings:
        if folded.endswith(ending) and len(folded) - len(ending) >= shortest:
            return folded[: -len(ending)]
    return folded


class _Lemmatiser:
    """simplemma with its memory-frugal dictionaries, loaded on first use of each language."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lemmatizer = None
        self._strategy = None
        self.loaded: set[str] = set()  # languages whose dictionary is in memory

    def _load(self) -> None:
        from simplemma import Lemmatizer
        from simplemma.strategies import DefaultStrategy
        from simplemma.strategies.dictionaries.stream_dictionary_factory import StreamDictionaryFactory

        self._strategy = DefaultStrategy(dictionary_factory=StreamDictionaryFactory())
        self._lemmatizer = Lemmatizer(lemmatization_strategy=self._strategy, cache_max_size=0)

    def load(self, languages: Sequence[str]) -> None:
        """Read the dictionaries of these languages now (seconds each; call it off the event loop)."""
        for language in languages:
            if language in _SIMPLEMMA_CODES and language not in self.loaded:
                self.knows("opsroom", language)

    def knows(self, word: str, language: str) -> bool:
        with self._lock:
            if self._lemmatizer is None:
                self._load()
            assert self._strategy is not None
            known = bool(self._strategy.is_dictionary_member(word, _SIMPLEMMA_CODES[language]))
            self.loaded.add(language)
            return known

    def lemma(self, word: str, languages: tuple[str, ...]) -> str:
        """The lemma in the first language whose dictionary knows the word; else the word."""
        codes = [_SIMPLEMMA_CODES[language] for language in languages if language in _SIMPLEMMA_CODES]
        if not codes:
            return word
        with self._lock:
            if self._lemmatizer is None:
                self._load()
            assert self._strategy is not None and self._lemmatizer is not None
            for language, code in zip([lang for lang in languages if lang in _SIMPLEMMA_CODES], codes):
                self.loaded.add(language)
                if self._strategy.is_dictionary_member(word, code):
                    return self._lemmatizer.lemmatize(word, code)
            # no dictionary knows it: the first language's rules may still (e.g. a Czech verb form)
            return self._lemmatizer.lemmatize(word, codes[0])


_LEMMATISER = _Lemmatiser()


@lru_cache(maxsize=200_000)
def word_term(word: str, languages: tuple[str, ...]) -> str:
    """The search term of one lower-case word under the given languages (first is preferred)."""
    return stem(fold(_LEMMATISER.lemma(word, languages)))


def detect_language(text: str, candidates: Sequence[str]) -> str:
    """The candidate whose dictionary knows most of the text's words (Chinese when it has
    Chinese characters); the first candidate when none knows any."""
    if re.search(rf"[{_HAN}]", text) and "zh" in candidates:
        return "zh"
    words = [match.group("word").lower() for match in _TOKEN.finditer(text) if match.group("word")][:40]
    best, best_known = candidates[0] if candidates else "en", 0
    for language in candidates:
        if language not in _SIMPLEMMA_CODES:
            continue
        known = sum(1 for word in words if _LEMMATISER.knows(word, language))
        if known > best_known:
            best, best_known = language, known
    return best


class _Segmenter:
    """jieba, initialised (about 1 s, tens of MB) only when Chinese text first appears."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ready = False

    def tokenize(self, text: str, *, search: bool) -> list[tuple[str, int, int]]:
        import jieba

        with self._lock:
            if not self.ready:
                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                self.ready = True
        return list(jieba.tokenize(text, mode="search" if search else "default"))


_SEGMENTER = _Segmenter()


def preload(languages: Sequence[str]) -> None:
    """Load what normalising these languages needs (dictionaries, the Chinese segmenter), so
    that no search waits for it; blocking: run it in a worker thread."""
    _LEMMATISER.load(languages)
    if "zh" in languages:
        _SEGMENTER.tokenize("预加载", search=False)


def ready(languages: Sequence[str]) -> bool:
    """Whether normalising these languages can start at once (nothing left to load)."""
    return all(language in _LEMMATISER.loaded for language in languages if language in _SIMPLEMMA_CODES) and (
        "zh" not in languages or _SEGMENTER.ready
    )


def _usable(term: str) -> bool:
    if not term or len(term) > MAX_TERM_LENGTH or term in STOP_WORDS:
        return False
    if len(term) == 1:
        return bool(re.match(rf"[{_HAN}]", term))  # a Chinese character is a word; a Latin letter is not
    if term.isdigit():
        return len(term) >= 3
    return True


def _word_terms(word: str, languages: tuple[str, ...]) -> tuple[str, ...]:
    """A word, or an identifier joined by ``-./@:+_'`` (``db-01.example.org``): the whole folded,
    its dotted prefixes (``db-01``), and each part as a word."""
    lowered = word.lower()
    if not _PART_SPLIT.search(lowered):
        if fold(lowered) in STOP_WORDS:
            return ()
        term = word_term(lowered, languages)
        return (term,) if _usable(term) else ()
    whole = fold(lowered)
    terms: list[str] = [whole] if _usable(whole) else []
    parts = _PART_SPLIT.split(whole)
    if all(part.isalpha() for part in parts):
        terms.append("".join(parts))  # wi-fi is also wifi, e-mail email
    if "." in whole:
        pieces = whole.split(".")
        terms += [".".join(pieces[:n]) for n in range(1, min(len(pieces), 4))]
    for part in _PART_SPLIT.split(lowered):
        terms += _word_terms(part, languages)
    return tuple(dict.fromkeys(t for t in terms if _usable(t)))


def tokens(text: str, languages: Sequence[str]) -> list[Token]:
    """The words of ``text`` with their offsets and terms; ``languages`` in order of preference."""
    preferred = tuple(languages) or ("en",)
    found: list[Token] = []
    for match in _TOKEN.finditer(text):
        if match.group("han"):
            base = match.start()
            for word, start, end in _SEGMENTER.tokenize(match.group("han"), search=False):
                term = word.lower()
                if _usable(term):
                    found.append(Token(base + start, base + end, _han_terms(word)))
        else:
            terms = _word_terms(match.group("word"), preferred)
            if terms:
                found.append(Token(match.start(), match.end(), terms))
    return found


def _han_terms(word: str) -> tuple[str, ...]:
    """A Chinese word and the shorter words inside it (``硬盘空间`` -> ``硬盘``, ``空间``)."""
    terms = [word]
    if len(word) >= 3:
        terms += [piece for piece, _s, _e in _SEGMENTER.tokenize(word, search=True) if piece != word and _usable(piece)]
    return tuple(dict.fromkeys(terms))


def document_terms(text: str, languages: Sequence[str]) -> list[tuple[str, ...]]:
    """The terms of each word, in order (their index is the word's position)."""
    return [token.terms for token in tokens(text, languages)]


def query_groups(text: str, languages: Sequence[str]) -> list[frozenset[str]]:
    """One group per query word: its terms under each of the candidate languages (those the
    team uses) and as typed. A document matches a group when it has any of its terms."""
    candidates = tuple(dict.fromkeys(languages))
    groups: list[frozenset[str]] = []
    for match in _TOKEN.finditer(text):
        if match.group("han"):
            for word, _start, _end in _SEGMENTER.tokenize(match.group("han"), search=False):
                if _usable(word):
                    groups.append(frozenset(_han_terms(word)))
            continue
        lowered = match.group("word").lower()
        if _PART_SPLIT.search(lowered):
            # an identifier (db-01, mail.example.org): the whole must match, and each of its words
            whole = fold(lowered)
            pieces = _PART_SPLIT.split(whole)
            joined = {"".join(pieces)} if all(piece.isalpha() for piece in pieces) else set()
            if _usable(whole):
                groups.append(frozenset({whole} | joined))
            words = [part for part in _PART_SPLIT.split(lowered) if len(part) >= 3 and part.isalpha()]
        else:
            words = [lowered]
        for word in words:
            variants = {term for language in candidates if language != "zh" for term in _word_terms(word, (language,))}
            typed = stem(fold(word))
            if variants and _usable(typed):
                variants.add(typed)
            if variants:
                groups.append(frozenset(variants))
    unique: list[frozenset[str]] = []
    for group in groups:
        if group not in unique:
            unique.append(group)
    return unique


# ---- snippets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Snippet:
    """A piece of the original text and the ranges (offsets into ``text``) that matched."""

    text: str
    highlights: tuple[tuple[int, int], ...]

    def html(self, mark: str = "mark") -> str:
        from html import escape

        out, at = [], 0
        for start, end in self.highlights:
            out.append(escape(self.text[at:start]))
            out.append(f"<{mark}>{escape(self.text[start:end])}</{mark}>")
            at = end
        out.append(escape(self.text[at:]))
        return "".join(out)

    def marked(self, left: str = "*", right: str = "*") -> str:
        """Plain text with the matches between markers (chat bodies)."""
        out, at = [], 0
        for start, end in self.highlights:
            out += [self.text[at:start], left, self.text[start:end], right]
            at = end
        out.append(self.text[at:])
        return "".join(out)


def snippet(text: str, languages: Sequence[str], query_terms: Iterable[str], *, words: int = 24) -> Snippet:
    """The stretch of ``text`` with the most distinct query terms, about ``words`` words long,
    with the original words that matched marked; the start of the text when nothing matches."""
    wanted = set(query_terms)
    found = tokens(text, languages)
    if not found:
        return Snippet(_shorten(text, 200), ())
    hits = [i for i, token in enumerate(found) if wanted.intersection(token.terms)]
    best_start = 0
    if hits:
        best_score = -1
        for first in hits:
            window = [i for i in hits if first <= i < first + words]
            score = len({term for i in window for term in wanted.intersection(found[i].terms)})
            if score > best_score:
                best_start, best_score = max(0, first - 3), score
    last = min(len(found), best_start + words) - 1
    start = 0 if best_start == 0 else found[best_start].start
    end = len(text) if last == len(found) - 1 else found[last].end
    piece = " ".join(text[start:end].split())
    prefix = "" if start == 0 else "… "
    suffix = "" if end == len(text) else " …"
    # map the highlights into the whitespace-squashed piece by re-finding each word in order
    highlights: list[tuple[int, int]] = []
    cursor = 0
    for i in hits:
        if not best_start <= i <= last:
            continue
        word = " ".join(text[found[i].start:found[i].end].split())
        at = piece.find(word, cursor)
        if at < 0:
            continue
        highlights.append((len(prefix) + at, len(prefix) + at + len(word)))
        cursor = at + len(word)
    return Snippet(prefix + piece + suffix, tuple(highlights))


def _shorten(text: str, limit: int) -> str:
    squashed = " ".join(text.split())
    return squashed if len(squashed) <= limit else squashed[: limit - 1].rstrip() + "…"
