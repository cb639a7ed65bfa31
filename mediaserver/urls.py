from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import Http404
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from libraries.views import LibraryViewSet, MediaFileViewSet
from mediaserver import pages
from mediaserver.api_root import ApiRootView
from mediaserver.login_guard import GuardedAdminAuthenticationForm, GuardedAuthenticationForm, GuardedPasswordChangeView
from scanner.hooks import (
    ArrWebhookView,
    EmbyAdminNotificationView,
    EmbyItemsView,
    EmbyMediaUpdatedView,
    EmbySystemView,
    EmbyVirtualFoldersView,
)
from scanner.views import (
    ChangesView,
    HealthView,
    MetricsView,
    ScanEventViewSet,
    ScanJobViewSet,
    ScannerControlViewSet,
)


class OptionalSlashRouter(SimpleRouter):
    """Trailing slash optional, as the API contract says."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("libraries", LibraryViewSet, basename="library")
router.register("files", MediaFileViewSet, basename="file")
router.register("scanner/jobs", ScanJobViewSet, basename="scanjob")
router.register("scanner/events", ScanEventViewSet, basename="scanevent")

LIBRARY_ID = r"(?P<library_id>[0-9]{1,18})/?$"
scanner_control = [
    re_path(rf"^scanner/{name}/{LIBRARY_ID}", ScannerControlViewSet.as_view({method: name}), name=f"scanner-{name}")
    for name, method in [("start", "post"), ("pause", "post"), ("resume", "post"), ("cancel", "post"),
                         ("status", "get")]
]


# The Jellyfin/Emby API, as much as notifying tools call (scanner/hooks.py), at the root and
# under the legacy /mediabrowser/ and /emby/ prefixes (Lidarr always uses /mediabrowser/).
EMBY = r"^(?:(?:mediabrowser|emby)/)?"
emby = [
    re_path(rf"{EMBY}Library/Media/Updated/?$", EmbyMediaUpdatedView.as_view(), name="emby-media-updated"),
    re_path(rf"{EMBY}System/Configuration/?$", EmbySystemView.as_view(), name="emby-configuration"),
    re_path(rf"{EMBY}System/Info/?$", EmbySystemView.as_view(), name="emby-info"),
    re_path(rf"{EMBY}Library/VirtualFolders/?$", EmbyVirtualFoldersView.as_view(), name="emby-libraries"),
    re_path(rf"{EMBY}Items/?$", EmbyItemsView.as_view(), name="emby-items"),
    re_path(rf"{EMBY}Notifications/Admin/?$", EmbyAdminNotificationView.as_view(), name="emby-notification"),
]


def when_mail_is_configured(view):
    """Password resets send mail: without a mail server (EMAIL_HOST) their pages do not exist."""

    def gated(request, *args, **kwargs):
        if not settings.EMAIL_HOST:
            raise Http404("Password resets need a mail server (EMAIL_HOST)")
        return view(request, *args, **kwargs)

    return gated

accounts = [
    path("login/", auth_views.LoginView.as_view(authentication_form=GuardedAuthenticationForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", GuardedPasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", when_mail_is_configured(auth_views.PasswordResetView.as_view()), name="password_reset"),
    path("password_reset/done/", when_mail_is_configured(auth_views.PasswordResetDoneView.as_view()),
         name="password_reset_done"),
    path("reset/<uidb64>/<token>/", when_mail_is_configured(auth_views.PasswordResetConfirmView.as_view()),
         name="password_reset_confirm"),
    path("reset/done/", when_mail_is_configured(auth_views.PasswordResetCompleteView.as_view()),
         name="password_reset_complete"),
]

# The admin's login refuses the user name wrong API tokens are counted under, as ours does.
admin.site.login_form = GuardedAdminAuthenticationForm
# The breadcrumbs and the index lead everywhere already; the side menu took 300 px from every
# list (the scan-job list must fit 1400 px: tests/test_browser.py).
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("libraries/<int:pk>/", pages.library_detail, name="library"),
    path("libraries/<int:pk>/browse/", pages.library_browse, name="library-browse"),
    path("libraries/<int:pk>/watch-state/", pages.library_watch_state, name="library-watch-state"),
    path("jobs/<int:pk>/", pages.job_detail, name="job"),
    path("activity/", pages.activity, name="activity"),
    path("accounts/", include(accounts)),
    # The admin's own form would check the current password unguarded: use the guarded one.
    path("admin/password_change/", RedirectView.as_view(pattern_name="password_change")),
    path("admin/", admin.site.urls),
    re_path(r"^api/?$", ApiRootView.as_view(), name="api-root"),
    path("api/", include(scanner_control + router.urls)),
    re_path(r"^api/scanner/changes/?$", ChangesView.as_view(), name="scanner-changes"),
    re_path(r"^api/hooks/arr/?$", ArrWebhookView.as_view(), name="hooks-arr"),
    *emby,
    re_path(r"^api/health/?$", HealthView.as_view(), name="health"),
    re_path(r"^metrics/?$", MetricsView.as_view(), name="metrics"),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^api/docs/?$", SpectacularSwaggerSplitView.as_view(url_name="schema", http_method_names=["get", "head"]),
            name="docs"),
]

handler400 = "mediaserver.api_errors.bad_request"
handler404 = "mediaserver.api_errors.not_found"
handler500 = "mediaserver.api_errors.server_error"
