from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from libraries.models import Library, MediaFile
from libraries.services import clean_library_path, library_check_path_change, library_delete, library_paths_locked
from mediaserver.api_policy import SCAN_CONTROL
from scanner.jobs import services
from scanner.jobs.schedule import next_scan_at, with_next_scan
from scanner.jobs.selectors import watch_of, with_changes_waiting
from scanner.models import ScanJob

RECENT_JOBS = 10


class LibraryForm(forms.ModelForm):
    class Meta:
        model = Library
        fields = ["name", "path", "kind", "scan_interval", "watch"]

    def clean_path(self) -> str:
        real = clean_library_path(self.cleaned_data["path"], library_id=self.instance.pk)
        if self.instance.pk is not None:
            library_check_path_change(library=self.instance, path=real)
        return real


class RecentJobInline(admin.TabularInline):
    model = ScanJob
    fields = ("id", "status", "pause_reason", "mode", "progress", "files_processed", "files_found", "status_message",
              "created_at")  # a tuple: mypy then also takes it as readonly_fields
    readonly_fields = fields
    show_change_link = True
    extra = 0
    can_delete = False
    verbose_name_plural = f"recent scans (last {RECENT_JOBS})"

    def get_queryset(self, request):
        # An inline's queryset cannot be sliced, so take the newest ids of this library first.
        library_id = request.resolver_match.kwargs.get("object_id") or ""
        if not library_id.isdigit():
            return ScanJob.objects.none()
        newest = ScanJob.objects.filter(library_id=int(library_id)).order_by("-created_at", "-id")
        ids = list(newest.values_list("pk", flat=True)[:RECENT_JOBS])
        return super().get_queryset(request).filter(pk__in=ids).order_by("-created_at", "-id")

    def has_add_permission(self, request, obj=None):
        return False


def _start_scans(modeladmin, request, queryset, mode: str) -> None:
    for library in queryset:
        try:
            action = services.scan_start(library_id=library.pk, mode=mode, trigger=ScanJob.Trigger.ADMIN)
            verb = "Queued" if action.created else "Resumed"
            modeladmin.message_user(request, f"{verb} a scan of {library.name} (job {action.job.pk}).",
                                    messages.SUCCESS)
        except services.ScanControlError as exc:
            modeladmin.message_user(request, f"{library.name}: {exc}", messages.WARNING)


@admin.action(description="Scan now (quick)", permissions=["scan"])
def scan_now(modeladmin, request, queryset):
    _start_scans(modeladmin, request, queryset, ScanJob.Mode.QUICK)


@admin.action(description="Full scan (re-read every file, fills fields added by an upgrade)", permissions=["scan"])
def full_scan(modeladmin, request, queryset):
    _start_scans(modeladmin, request, queryset, ScanJob.Mode.FULL)


class ScanFoldersForm(forms.Form):
    paths = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
                            help_text="One per line: relative to the library folder, or absolute inside it.")


@admin.action(description="Scan these folders (a targeted quick scan)", permissions=["scan"])
def scan_folders(modeladmin, request, queryset):
    """An intermediate page asks for the paths; its POST comes back to this action with them."""
    if queryset.count() != 1:
        modeladmin.message_user(request, "Choose one library: the folders are paths inside it.", messages.WARNING)
        return None
    library = queryset.get()
    form = ScanFoldersForm(request.POST if "paths" in request.POST else None)
    if form.is_valid():
        paths = [line.strip() for line in form.cleaned_data["paths"].splitlines() if line.strip()]
        try:
            action = services.scan_start(library_id=library.pk, paths=paths, trigger=ScanJob.Trigger.ADMIN)
        except services.ScanControlError as exc:
            form.add_error("paths", str(exc))
        else:
            what = ", ".join(action.job.scope) or "the whole library"
            verb = "Queued" if action.created else "Resumed"
            modeladmin.message_user(request, f"{verb} a scan of {what} in {library.name} (job {action.job.pk}).",
                                    messages.SUCCESS)
            return None
    return TemplateResponse(request, "admin/libraries/scan_folders.html", {
        **modeladmin.admin_site.each_context(request), "title": f"Scan folders of {library.name}", "form": form,
        "library": library, "action": "scan_folders", "opts": modeladmin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    })


@admin.register(Library)
class LibraryAdmin(admin.ModelAdmin):
    form = LibraryForm
    list_display = ["name", "path", "kind", "scan_interval", "next_scan", "watch", "watched_by", "changes_waiting",
                    "updated_at"]
    list_filter = ["kind", "watch"]
    search_fields = ["name", "path"]
    actions = [scan_now, full_scan, scan_folders]
    readonly_fields = ["next_scan", "watched_by"]
    inlines = [RecentJobInline]

    def has_scan_permission(self, request) -> bool:
        return request.user.has_perm(SCAN_CONTROL)  # what the API's scan controls ask for

    def get_queryset(self, request):
        return with_changes_waiting(with_next_scan(super().get_queryset(request)))

    @admin.display(description="next scan at", ordering="next_scan_at")
    def next_scan(self, library):
        return next_scan_at(library) or "–"

    @admin.display(description="watched by")
    def watched_by(self, library):
        lease = watch_of(library)
        if lease is None:
            return "–"
        return f"{lease.worker.label} (in part: {lease.note})" if lease.partial else lease.worker.label

    @admin.display(description="changes waiting", ordering="changes_waiting")
    def changes_waiting(self, library):
        return library.changes_waiting

    def get_inline_instances(self, request, obj=None):
        return super().get_inline_instances(request, obj) if obj is not None else []  # no scans before it exists

    def changeform_view(self, request, *args, **kwargs):
        if request.method != "POST":
            return super().changeform_view(request, *args, **kwargs)
        with library_paths_locked():  # the form's path checks and the save, as one
            return super().changeform_view(request, *args, **kwargs)

    def delete_model(self, request, obj):
        library_delete(library=obj)

    def delete_queryset(self, request, queryset):
        for library in queryset:
            library_delete(library=library)


@admin.register(MediaFile)
class MediaFileAdmin(admin.ModelAdmin):
    list_display = ["path", "library", "kind", "size", "duration", "artist", "title", "genre", "width", "height",
                    "taken_at", "missing", "last_seen"]
    list_filter = ["kind", "missing", "library"]
    search_fields = ["path", "title", "artist", "album_artist", "genre"]
    list_select_related = ["library"]
