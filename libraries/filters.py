import django_filters
from django.db.models import Q

from libraries.models import MediaFile


class MediaFileFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=MediaFile.Kind.choices)
    # A choice, not a BooleanFilter: "missing=perhaps" is a 400, not silently ignored.
    missing = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false"), ("1", "1"), ("0", "0")], method="filter_missing"
    )
    search = django_filters.CharFilter(method="filter_search", label="Search in path, title, artist and album")

    class Meta:
        model = MediaFile
        fields = ["kind", "missing"]

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
