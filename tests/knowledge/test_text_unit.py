"""Pure parts of the knowledge base: normalisation (case, diacritics, word forms, Chinese words),
snippets over the original text, safe Markdown, tsvector literals, the summary length."""

from __future__ import annotations

import pytest

from knowledge.markdown import safe_link, to_html, to_plain
from knowledge.model import ArticleError, check_folder, slugify
from knowledge.search import Group, merge_groups, plan, tsvector_literal
from knowledge.text import detect_language, fold, query_groups, snippet, tokens
from knowledge.worker import summary_length


def doc_terms(text: str, language: str) -> set[str]:
    return {term for token in tokens(text, (language, "en")) for term in token.terms}


@pytest.mark.parametrize("query, language, document, doc_language", [
    ("cesky", "cs", "Návod je česky", "cs"),
    ("zrodlo", "pl", "Źródło zasilania", "pl"),
    ("zdroje", "cs", "Záložní zdroj", "cs"),
    ("серверы", "ru", "Сервер не отвечает", "ru"),
    ("tiskarny", "cs", "Tiskárna ve 2. patře", "cs"),
    ("pisača", "hr", "Pisač se zaglavio", "hr"),
    ("SERVERS", "en", "the server is down", "en"),
    ("硬盘空间", "zh", "硬盘空间不足", "zh"),
    ("db-01", "en", "Disk full on db-01.example.org", "en"),
])
def test_a_query_word_meets_the_documents_word(query, language, document, doc_language):
    groups = query_groups(query, (language, "en"))
    assert groups and all(group & doc_terms(document, doc_language) for group in groups), (groups, doc_terms(document, doc_language))


def test_fold_and_stop_words():
    assert fold("Źródło ŁÓDŹ Đurđevac ёлка") == "zrodlo lodz durdevac елка"
    assert query_groups("the and je na и 的", ("en",)) == []


def test_snippet_marks_the_original_words():
    text = "Intro. " * 40 + "Yesterday the main PRINTER jammed again; removed the stuck paper. " + "Outro. " * 40
    found = snippet(text, ("en",), {term for group in query_groups("printers jam", ("en",)) for term in group})
    assert [found.text[a:b] for a, b in found.highlights] == ["PRINTER", "jammed"]
    assert found.text.startswith("… ") and found.text.endswith(" …")
    assert "<mark>PRINTER</mark>" in found.html() and "*jammed*" in found.marked()


def test_markdown_is_safe_and_readable():
    source = "# T\n<script>x</script>\n[a](javascript:alert(1)) [b](https://ok.example) ![i](https://img.example/i.png)\n\n- one\n- two"
    html = to_html(source, for_web=True)
    assert "<script>" not in html and "javascript:" not in html.replace("[a](javascript:alert(1))", "")
    assert '<a href="https://ok.example" rel="nofollow noopener noreferrer">b</a>' in html
    assert "<img" not in html and 'href="https://img.example/i.png"' in html
    assert to_plain(source).splitlines()[-2:] == ["- one", "- two"]
    for link, safe in [("https://x", True), ("mailto:a@b", True), ("/kb/x", True), ("page.html", True),
                       ("javascript:x", False), (" java\tscript:x", False), ("data:text/html,x", False), ("//evil", False)]:
        assert safe_link(link) is safe, link


def test_tsvector_literal_weights_positions_and_quoting():
    literal, terms = tsvector_literal([("A", [("disk",), ("o'neil",)]), ("C", [("disk",)])])
    assert literal == "'disk':1A,11C 'o''neil':2A" and terms == {"disk", "o'neil"}


def test_plan_weighs_rare_words_and_drops_unknown_ones():
    groups = merge_groups((2.0, [frozenset({"disk"}), frozenset({"db-01"})]), (1.0, [frozenset({"zzz"})]))
    assert {g.terms: g.importance for g in groups} == {frozenset({"disk"}): 2.0, frozenset({"db-01"}): 1.0, frozenset({"zzz"}): 1.0}
    every = plan(groups, {"disk": 10, "db-01": 1}, 100, every_word=True)
    assert every.empty  # nothing has "zzz"
    some = plan(groups, {"disk": 10, "db-01": 1}, 100, every_word=False)
    # disk: rarity 2.26 x importance 2; db-01 (an identifier, counted half): rarity 4.21 x 1
    assert some.match == "('disk') | ('db-01')"
    assert [(round(weight, 2), queries) for weight, queries in some.scored] == [(4.53, ("'disk'",)), (4.21, ("'db-01'",))]
    assert plan([Group(frozenset({"x"}))], {}, 0, every_word=False).empty


def test_articles_fields():
    assert slugify("Když VPN nejde: řešení") == "kdyz-vpn-nejde-reseni" and slugify("Сервер упал") == "server-upal"
    assert slugify("打印机卡纸") == "article"
    assert check_folder(" /network/ vpn /clients/ ") == "network/vpn/clients" and check_folder("") == ""
    with pytest.raises(ArticleError):
        check_folder("a//b")


def test_language_of_a_text_and_summary_length():
    assert detect_language("Tiskárna nefunguje a hlásí chybu", ("cs", "en")) == "cs"
    assert detect_language("The printer does not work", ("cs", "en")) == "en"
    assert detect_language("打印机卡纸", ("cs", "en", "zh")) == "zh"
    assert summary_length("fixed") == 5 and summary_length("清理日志") == 12
