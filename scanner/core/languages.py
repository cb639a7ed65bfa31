"""Languages as the catalogue stores them: ISO 639-2/T codes ("fra", "deu", "zho"), whatever
form a file or a user wrote ("fre", "fr", "FR-ca", "French"). No Django here.

The tables are ISO's, through pycountry (Debian's iso-codes data): ISO 639-3, which holds every
639-2 individual and macro language with its 639-1 code, its 639-2/B code and its English name,
and ISO 639-5 for the 639-2 collective codes ("ber", "sgn"). pycountry loads them on first use
(0.1–0.3 s, once per process); each answer is cached.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Codes that name no language: undetermined, none, several, uncoded, and common placeholders.
NO_LANGUAGE = frozenset({"", "und", "unk", "unknown", "xxx", "zxx", "mis", "mul", "none", "n/a", "null"})
# ISO 639-1 codes ISO withdrew in 1989 that files still carry (Java wrote them until 2024);
# not in pycountry's current tables.
WITHDRAWN = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro"}
_TAG = re.compile(r"[a-z]{2,3}")  # the language subtag of "pt-BR", "zh_Hant", "eng-US"


@lru_cache(maxsize=1024)
def language_code(value: str | None) -> str | None:
    """The ISO 639-2/T code of a code as files write it (639-1, 639-2/B or /T, or a BCP 47 tag
    whose first subtag is one of those), or None for `und`, placeholders and unknown codes."""
    if not value:
        return None
    tag = re.split(r"[-_ ]", str(value).strip().lower(), maxsplit=1)[0]
    if tag in NO_LANGUAGE or not _TAG.fullmatch(tag):
        return None
    return _by_code(WITHDRAWN.get(tag, tag))


@lru_cache(maxsize=1024)
def language_query(value: str) -> str | None:
    """The ISO 639-2/T code a user means: any 639-1, 639-2/B or /T code, or an English name
    as ISO gives it ("French", "german"), in any case; None when it names no language."""
    text = value.strip()
    return language_code(text) if _TAG.fullmatch(text.lower()) else _by_name(text.lower())


def language_name(code: str) -> str:
    """The English name of a catalogue code ("fra": "French"), or the code itself."""
    from pycountry import language_families, languages

    found = languages.get(alpha_3=code) or language_families.get(alpha_3=code)
    return found.name if found is not None else code


def _by_code(code: str) -> str | None:
    from pycountry import language_families, languages

    field = "alpha_2" if len(code) == 2 else "alpha_3"
    found = languages.get(**{field: code})
    if found is None and len(code) == 3:
        found = languages.get(bibliographic=code) or language_families.get(alpha_3=code)
    if found is None or found.alpha_3 in NO_LANGUAGE:
        return None
    return found.alpha_3


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    from pycountry import language_families, languages

    names = {family.name.lower(): family.alpha_3 for family in language_families}
    # Languages after families: "Chinese" is a language (zho), not only a family.
    names.update((language.name.lower(), language.alpha_3) for language in languages)
    return names


def _by_name(name: str) -> str | None:
    code = _names().get(name)
    return None if code is None or code in NO_LANGUAGE else code
