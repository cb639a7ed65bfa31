from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action

from libraries.filters import CatalogueFilter, MediaFileFilter
from libraries.models import Library, MediaFile
from libraries.serializers import LibrarySerializer, MediaFileSerializer
from libraries.services import library_delete, library_paths_locked
from scanner.jobs.schedule import with_next_scan
from scanner.jobs.selectors import with_changes_waiting

ID_PATTERN = "[0-9]{1,18}"  # anything else (letters, huge numbers) is a 404, never a database error
FILE_FILTERS = [  # what MediaFileFilter reads; tests/test_api_schema.py checks that none is left out
    OpenApiParameter("kind", OpenApiTypes.STR, enum=MediaFile.Kind.values),
    OpenApiParameter("missing", OpenApiTypes.BOOL),
    OpenApiParameter("search", OpenApiTypes.STR, description="in path, title, artist and album"),
    OpenApiParameter("genre", OpenApiTypes.STR, description="the genre, exactly (any case)"),
    OpenApiParameter("album_artist", OpenApiTypes.STR, description="the album artist, exactly (any case)"),
    OpenApiParameter("language", OpenApiTypes.STR,
                     description="a stream's language: ISO 639-1, 639-2/B or 639-2/T code or English name, "
                                 "any case (fr, fre, fra, French)"),
    OpenApiParameter("min_width", OpenApiTypes.INT, description="pixels, at least (videos and images)"),
    OpenApiParameter("min_height", OpenApiTypes.INT, description="pixels, at least (videos and images)"),
]
PAGES = [OpenApiParameter("page", OpenApiTypes.INT), OpenApiParameter("page_size", OpenApiTypes.INT)]


@extend_schema_view(
    list=extend_schema(description="The libraries, by name."),
    create=extend_schema(description="Add a library: a name, an absolute folder (the path rules are in the README) "
                                     "and a kind."),
    retrieve=extend_schema(description="One library."),
    partial_update=extend_schema(description="Change a library's name, folder, kind, scan interval or watch."),
    destroy=extend_schema(description="Delete a library and its catalogue; its open scan ends first."),
)
class LibraryViewSet(viewsets.ModelViewSet):
    """Libraries: list, create, read, change, delete; and each library's catalogue."""

    queryset = with_changes_waiting(with_next_scan(Library.objects.all()))
    serializer_class = LibrarySerializer
    lookup_value_regex = ID_PATTERN
    filter_backends = []
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    # The path checks (in the serializer) and the write hold one lock: see library_paths_locked.
    def create(self, request, *args, **kwargs):
        with library_paths_locked():
            return super().create(request, *args, **kwargs)

    def update(self, request, *args, **kwargs):
        with library_paths_locked():
            return super().update(request, *args, **kwargs)

    def perform_update(self, serializer):
        serializer.save()
        # Re-read with the annotations (next_scan_at) computed from the saved values.
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_destroy(self, instance):
        library_delete(library=instance)

    @extend_schema(
        responses=MediaFileSerializer(many=True),
        parameters=[
            *FILE_FILTERS,
        ],
    )
    @action(detail=True, methods=["get"], serializer_class=MediaFileSerializer)
    def files(self, request, pk=None):
        """The library's catalogued files, by path, filtered as the parameters say."""
        library = get_object_or_404(Library, pk=pk)
        found = MediaFileFilter(request.query_params,
                                queryset=MediaFile.objects.filter(library=library).order_by("path"))
        if not found.is_valid():
            raise serializers.ValidationError(found.errors)
        page = self.paginate_queryset(found.qs)
        return self.get_paginated_response(MediaFileSerializer(page, many=True).data)


class MediaFileViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """GET /api/files/: every library's catalogue (DESIGN.md 6)."""

    serializer_class = MediaFileSerializer
    queryset = MediaFile.objects.order_by("library_id", "path")
    filter_backends: list = []  # the filters below, with their 400s

    @extend_schema(description="Every library's catalogued files, by library then path; ?library=<id> and the "
                               "files filters of /api/libraries/{id}/files/.",
                   parameters=[OpenApiParameter("library", OpenApiTypes.INT), *FILE_FILTERS, *PAGES])
    def list(self, request, *args, **kwargs):
        found = CatalogueFilter(request.query_params, queryset=self.get_queryset())
        if not found.is_valid():
            raise serializers.ValidationError(found.errors)
        page = self.paginate_queryset(found.qs)
        return self.get_paginated_response(MediaFileSerializer(page, many=True).data)
