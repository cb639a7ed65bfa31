"""Counts and durations on the pages, said as the scan's own messages say them (scanner/core/words.py)."""

from django import template

from scanner.core import words

register = template.Library()


@register.filter
def count(n: int | None, noun: str) -> str:
    """{{ n|count:"file" }}: "1 file", "20,000 files"; a noun with an irregular plural as "noun,plural"."""
    singular, _, plural = noun.partition(",")
    return words.count(n or 0, singular, plural or None)


@register.filter
def thousands(n: int | None) -> str:
    """{{ n|thousands }}: "20,000"; "" for none."""
    return "" if n is None else f"{n:,}"


@register.filter
def hms(seconds: float | None) -> str:
    """{{ seconds|hms }}: "0:03:25", "2:01:09"."""
    return words.hms(seconds)
