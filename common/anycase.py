"""Any-case text matching (`icontains`, `iexact`) for every script, on both databases.

Django's SQL for these folds ASCII letters only in two places: SQLite's LIKE, and PostgreSQL's
UPPER on a column in the "C" collation (paths are, for the walk's order). So `?genre=électronique`
would not find "Électronique" on SQLite, nor `?search=ÁGÆTIS` the folder "Ágætis byrjun" on
either. Here both sides are folded the same way before they are compared: NFKC first, so a name
stored decomposed (as macOS writes file names) matches its composed spelling, then case. SQLite
folds with Python (casefold); PostgreSQL with lower() in ICU's root collation, whatever the
database's own locale. Accents stay significant ("bjork" does not find "Björk"), because in
many languages they tell words apart.
"""

from __future__ import annotations

import unicodedata

from django.db.backends.signals import connection_created
from django.db.models import CharField, TextField
from django.db.models.lookups import IContains, IExact, Lookup

FOLD = "mediaserver_fold"  # the SQL function each SQLite connection gets


def fold(text: str | None) -> str | None:
    return None if text is None else unicodedata.normalize("NFKC", text).casefold()


def _add_fold(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function(FOLD, 1, fold, deterministic=True)


def _folded_in_postgresql(sql: str) -> str:
    return f'lower(normalize(({sql})::text, NFKC) COLLATE "und-x-icu")'


class _Folded(Lookup):
    """With a plain string to match: `compare` applied to the folded column and value."""

    compare = ""

    def as_sqlite(self, compiler, connection):
        if not isinstance(self.rhs, str):  # an expression: Django's own SQL
            return self.as_sql(compiler, connection)
        lhs, params = self.process_lhs(compiler, connection)
        sql = self.compare.format(lhs=f"{FOLD}({lhs})", rhs="%s", find="instr")
        return sql, [*params, fold(self.rhs)]

    def as_postgresql(self, compiler, connection):
        if not isinstance(self.rhs, str):
            return self.as_sql(compiler, connection)
        lhs, params = self.process_lhs(compiler, connection)
        sql = self.compare.format(lhs=_folded_in_postgresql(lhs), rhs=_folded_in_postgresql("%s"), find="strpos")
        return sql, [*params, self.rhs]


class FoldedIContains(_Folded, IContains):
    compare = "{find}({lhs}, {rhs}) > 0"  # where the one is found in the other


class FoldedIExact(_Folded, IExact):
    compare = "{lhs} = {rhs}"


def install() -> None:
    """Once, at start-up (LibrariesConfig.ready), before any connection is made."""
    connection_created.connect(_add_fold, dispatch_uid="common.anycase")
    for field in (CharField, TextField):
        field.register_lookup(FoldedIContains)
        field.register_lookup(FoldedIExact)
