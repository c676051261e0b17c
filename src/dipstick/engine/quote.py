"""Quoting for the SQL text DuckDB cannot take as parameters: names, and the values inside a
view's or a type's text. Its own module so the loader's parts (``engine.coded``) and the SQL
layer (``engine.sql``, which re-exports both) share the one helper for each."""

from __future__ import annotations


def literal(value: object) -> str:
    """A SQL string literal, for the places DuckDB cannot bind a value: the text of a
    ``CREATE VIEW`` (a view stores its SQL, so ``?`` is refused: "This type of statement can't
    be prepared") or of a type (an ENUM's values: ``engine.coded``). The import pipeline
    builds its mapped expressions (value maps, choices, date formats, a Parquet file's path)
    into views, so those use this; every other value is a parameter of ``engine.sql.run``.
    Doubling ``'`` is all a DuckDB string literal needs (no backslash escapes), so any text,
    ``;`` and ``--`` included, arrives intact."""
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted SQL identifier (table or column name): the one helper for names."""
    return '"' + name.replace('"', '""') + '"'
