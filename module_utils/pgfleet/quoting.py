"""SQL quoting for names and string literals built on the controller.

standard_conforming_strings is on in every supported PostgreSQL, so doubling the quote is
the whole rule; backslashes are ordinary characters.
"""


def quote_ident(name: str) -> str:
    """A name as a quoted SQL identifier: app -> "app", a"b -> "a""b"."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Text as a SQL string literal: it's -> 'it''s'."""
    return "'" + text.replace("'", "''") + "'"
