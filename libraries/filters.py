import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q

from libraries.models import MediaFile
from scanner.core.languages import language_query


class IntegerFilter(django_filters.NumberFilter):
    """A whole number: "1.5" is a 400, not truncated to 1 by the column's int()."""

    field_class = forms.IntegerField  # type: ignore[assignment]


class LanguageField(forms.CharField):
    """A language as a person writes it, cleaned to the ISO 639-2/T code the catalogue stores."""

    def __init__(self, **kwargs):
        super().__init__(max_length=100, **kwargs)

    def clean(self, value):
        text = super().clean(value)
        if not text:
            return ""
        code = language_query(text)
        if code is None:
            raise ValidationError(f"Not a language: {text!r}. Use an ISO 639 code (fr, fre, fra) or an English "
                                  "name (French).")
        return code


class LanguageFilter(django_filters.CharFilter):
    field_class = LanguageField


class MediaFileFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=MediaFile.Kind.choices, error_messages={
        "invalid_choice": f'"%(value)s" is not a valid kind: {", ".join(MediaFile.Kind.values)}.'})
    # A choice, not a BooleanFilter: "missing=perhaps" is a 400, not silently ignored.
    missing = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false"), ("1", "1"), ("0", "0")], method="filter_missing"
    )
    search = django_filters.CharFilter(method="filter_search", label="Search in path, title, artist and album")
    genre = django_filters.CharFilter(lookup_expr="iexact", label="Genre, exactly (any case)")
    album_artist = django_filters.CharFilter(lookup_expr="iexact", label="Album artist, exactly (any case)")
    language = LanguageFilter(
        method="filter_language",
        label="A stream language: an ISO 639-1, 639-2/B or 639-2/T code or an English name, any case "
              "(fr, fre, fra, French)")
    min_width = IntegerFilter(field_name="width", lookup_expr="gte", min_value=0, max_value=2**31 - 1)
    min_height = IntegerFilter(field_name="height", lookup_expr="gte", min_value=0, max_value=2**31 - 1)

    class Meta:
        model = MediaFile
        fields = ["kind", "missing"]

    def filter_language(self, queryset, name, value):
        return queryset.filter(languages__contains=f" {value} ") if value else queryset

    def filter_missing(self, queryset, name, value):
        return queryset.filter(missing=value in ("true", "1"))

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(path__icontains=value) | Q(title__icontains=value) | Q(artist__icontains=value)
            | Q(album__icontains=value)
        )


class CatalogueFilter(MediaFileFilter):
    """The files filters across libraries (GET /api/files/), and the library to keep to."""

    library = IntegerFilter(field_name="library", min_value=1)
