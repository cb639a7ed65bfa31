from django.contrib import admin

from libraries.models import Library, MediaFile


@admin.register(Library)
class LibraryAdmin(admin.ModelAdmin):
    list_display = ["name", "path", "kind", "scan_interval", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["name", "path"]


@admin.register(MediaFile)
class MediaFileAdmin(admin.ModelAdmin):
    list_display = ["path", "library", "kind", "size", "duration", "artist", "title", "missing", "last_seen"]
    list_filter = ["kind", "missing", "library"]
    search_fields = ["path", "title", "artist"]
    list_select_related = ["library"]
