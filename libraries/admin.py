from django import forms
from django.contrib import admin

from libraries.models import Library, MediaFile
from libraries.services import clean_library_path, library_delete


class LibraryForm(forms.ModelForm):
    class Meta:
        model = Library
        fields = ["name", "path", "kind", "scan_interval"]

    def clean_path(self) -> str:
        return clean_library_path(self.cleaned_data["path"], library_id=self.instance.pk)


@admin.register(Library)
class LibraryAdmin(admin.ModelAdmin):
    form = LibraryForm
    list_display = ["name", "path", "kind", "scan_interval", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["name", "path"]

    def delete_model(self, request, obj):
        library_delete(library=obj)

    def delete_queryset(self, request, queryset):
        for library in queryset:
            library_delete(library=library)


@admin.register(MediaFile)
class MediaFileAdmin(admin.ModelAdmin):
    list_display = ["path", "library", "kind", "size", "duration", "artist", "title", "missing", "last_seen"]
    list_filter = ["kind", "missing", "library"]
    search_fields = ["path", "title", "artist"]
    list_select_related = ["library"]
