import django_filters
from django import forms
from django.db.models import Q

from libraries.models import MediaFile


class IntegerFilter(django_filters.NumberFilter):
    """A whole number: "1.5" is a 400, not truncated to 1 by the column's int()."""

    field_class = forms.IntegerField  # type: ignore[assignment]


class MediaFileFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=MediaFile.Kind.choices)
    # A choice, not a BooleanFilter: "missing=perhaps" is a 400, not silently ignored.
    missing = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false"), ("1", "1"), ("0", "0")], method="filter_missing"
    )
    search = django_filters.CharFilter(method="filter_search", label="Search in path, title, artist and album")
    genre = django_filters.CharFilter(lookup_expr="iexact", label="Genre, exactly (any case)")
    album_artist = django_filters.CharFilter(lookup_expr="iexact", label="Album artist, exactly (any case)")
    language = django_filters.CharFilter(method="filter_language",
                                         label="A stream language (ISO 639 code: eng, fre, ...)")
    min_width = IntegerFilter(field_name="width", lookup_expr="gte", min_value=0, max_value=2**31 - 1)
    min_height = IntegerFilter(field_name="height", lookup_expr="gte", min_value=0, max_value=2**31 - 1)

    class Meta:
        model = MediaFile
        fields = ["kind", "missing"]

    def filter_language(self, queryset, name, value):
        code = value.strip().lower()
        if not code:
            return queryset
        return queryset.filter(languages__contains=f" {code} ")

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
