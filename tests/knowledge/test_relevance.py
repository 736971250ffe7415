"""Relevance is measured: on a fixture of 240 realistic articles and tickets in the six
languages, suggestions and search find the related ones (precision@3 above a floor, overall and
in every language). The bench prints the same figures (`python -m bench knowledge`)."""

from __future__ import annotations

import pytest

from knowledge import evaluation
from storage.pool import create_pool

pytestmark = pytest.mark.integration

# floors a little under what is measured (see README figures), so a regression shows
OVERALL_FLOOR = {"suggestions": 0.65, "search": 0.75}
LANGUAGE_FLOOR = 0.5


async def test_precision_of_suggestions_and_search(database):
    fixture = evaluation.load()
    assert sum(1 + len(cluster["resolved"]) + 1 for topic in fixture.values() for cluster in topic.values()) >= 200
    assert {language for topic in fixture.values() for language in topic} == {"en", "cs", "pl", "ru", "hr", "zh"}
    pool = await create_pool(database, min_size=1, max_size=2)
    try:
        kb = evaluation.knowledge_base()
        async with pool.acquire() as conn:
            async with conn.transaction():
                indexed = await evaluation.index(conn, kb, fixture)
            report = await evaluation.evaluate(conn, kb, indexed)
    finally:
        await pool.close()
    print("\n".join(report.lines()))
    # what a suggestions note shows is mostly related (its noise stays low)
    assert report.overall("suggestions").shown_precision >= 0.8, report.lines()
    for which, floor in OVERALL_FLOOR.items():
        assert report.overall(which).p3 >= floor, (which, report.lines())
        for language, scores in getattr(report, which).items():
            assert scores.p3 >= LANGUAGE_FLOOR, (which, language, report.lines())
