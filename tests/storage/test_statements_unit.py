"""Several writes as one statement: parameters renumbered, every write kept, reads joined."""

from __future__ import annotations

from storage.statements import Write, compose


def test_writes_become_one_statement_with_renumbered_parameters():
    sql, args = compose([
        Write("INSERT INTO a (x, y) SELECT $1, $2", ("x", "y", "first"), then="SELECT pg_notify($3, '')"),
        Write("INSERT INTO b (z) SELECT $1", ("z",)),
        Write("INSERT INTO c (q) SELECT unnest($1::text[]) RETURNING q", (["q"], "chan"),
              then="SELECT pg_notify($2, q) FROM {rows}"),
    ])
    assert sql == (
        "WITH w0 AS (INSERT INTO a (x, y) SELECT $1, $2), w1 AS (INSERT INTO b (z) SELECT $4), "
        "w2 AS (INSERT INTO c (q) SELECT unnest($5::text[]) RETURNING q) "
        "SELECT pg_notify($3, '') UNION ALL SELECT pg_notify($6, q) FROM w2"
    )
    assert args == ["x", "y", "first", "z", ["q"], "chan"]


def test_arguments_follow_the_writes_in_order():
    _sql, args = compose([Write("INSERT INTO a SELECT $1", (1,)), Write("INSERT INTO b SELECT $1, $2", (2, 3))])
    assert args == [1, 2, 3]


def test_writes_without_reads_end_in_a_plain_select():
    sql, _args = compose([Write("INSERT INTO a SELECT $1", (1,))])
    assert sql.endswith(" SELECT NULL")
