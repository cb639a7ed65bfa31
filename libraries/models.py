from datetime import UTC, datetime, timedelta

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Value
from django.db.models.functions import Now

MIN_SCAN_INTERVAL = timedelta(minutes=5)  # a shorter schedule would rescan without pause
MAX_SCAN_INTERVAL = timedelta(days=365)  # beyond this, date arithmetic overflows


class Library(models.Model):
    """A folder of media. `path` is an absolute real path; libraries never nest or overlap."""

    class Kind(models.TextChoices):
        MOVIES = "movies"
        TV = "tv", "TV"
        MUSIC = "music"
        PHOTOS = "photos"
        MIXED = "mixed"

    name = models.CharField(max_length=200)
    path = models.CharField(max_length=1024, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MIXED)
    scan_interval = models.DurationField(
        null=True, blank=True, help_text="Queue a quick rescan this long after the last one. Empty: never.",
        validators=[MinValueValidator(MIN_SCAN_INTERVAL), MaxValueValidator(MAX_SCAN_INTERVAL)],
    )
    watch = models.BooleanField(
        default=True, help_text="Watch the folder and scan what changes (inotify; one server process at a time)")
    created_at = models.DateTimeField(db_default=Now())  # the database's clock: a schedule is due by it
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "libraries"

    def __str__(self) -> str:
        return self.name


class MediaFile(models.Model):
    """One catalogued media file of a library.

    `path` is relative to the library root, '/'-separated. On PostgreSQL the column uses the
    "C" collation (migration 0002) so that SQL orders paths byte-wise, exactly as Python and
    SQLite do: the scanner compares catalogue ranges against its sorted walk.
    """

    class Kind(models.TextChoices):
        VIDEO = "video"
        AUDIO = "audio"
        IMAGE = "image"

    library = models.ForeignKey(Library, on_delete=models.CASCADE, related_name="files")
    path = models.TextField()
    size = models.BigIntegerField()
    mtime_ns = models.BigIntegerField()
    # The file's inode and device when last written: a rename keeps them (scanner/engine/moves.py).
    inode = models.BigIntegerField(null=True, blank=True, editable=False)
    device = models.BigIntegerField(null=True, blank=True, editable=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    extension = models.CharField(max_length=16)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds")
    title = models.CharField(max_length=500, blank=True, default="")
    artist = models.CharField(max_length=500, blank=True, default="")
    album = models.CharField(max_length=500, blank=True, default="")
    # Database defaults too: the scanner's bulk insert leaves the columns of what files hold
    # out when a batch read nothing (scanner/engine/catalogue.py, BASIC_FIELDS).
    album_artist = models.CharField(max_length=500, blank=True, default="", db_default="")
    track = models.PositiveIntegerField(null=True, blank=True)
    disc = models.PositiveIntegerField(null=True, blank=True)
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    genre = models.CharField(max_length=500, blank=True, default="", db_default="")
    codec = models.CharField(max_length=64, blank=True, default="", help_text="The main stream's codec")
    bitrate = models.PositiveIntegerField(null=True, blank=True, help_text="Bits per second")
    sample_rate = models.PositiveIntegerField(null=True, blank=True, help_text="Hz")
    width = models.PositiveIntegerField(null=True, blank=True, help_text="Pixels (videos and images)")
    height = models.PositiveIntegerField(null=True, blank=True, help_text="Pixels (videos and images)")
    taken_at = models.DateTimeField(
        null=True, blank=True,
        help_text="Photos and phone videos: when taken; without a stated offset, the camera's clock as UTC")
    # Videos: [{"type": "video"|"audio"|"subtitle", "codec", "language", ...}], else [].
    streams = models.JSONField(default=list, blank=True, db_default=Value([], output_field=models.JSONField()))
    # The streams' languages, " eng fre ", so that ?language= is one portable LIKE (SQLite's
    # JSON fields have no containment lookup).
    languages = models.CharField(max_length=200, blank=True, default="", db_default="", editable=False)
    # Issue 25's facts (DESIGN.md 6; the README's "What files say inside" says where each comes
    # from). Database defaults, as above: a file with nothing read leaves them out.
    artists = models.JSONField(default=list, blank=True, db_default=Value([], output_field=models.JSONField()),
                               help_text="Every credited artist; `artist` joins them with '; '")
    album_artists = models.JSONField(default=list, blank=True, db_default=Value([], output_field=models.JSONField()))
    channels = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Audio channels")
    bit_depth = models.PositiveSmallIntegerField(null=True, blank=True,
                                                 help_text="Bits per sample (PCM, lossless) or per pixel component")
    rotation = models.PositiveSmallIntegerField(null=True, blank=True,
                                                help_text="Degrees clockwise a player turns the picture")
    frame_rate = models.FloatField(null=True, blank=True, help_text="Average frames per second")
    hdr = models.CharField(max_length=16, null=True, blank=True, help_text="hdr10, hdr10+, hlg, dolby_vision")
    taken_at_offset = models.BooleanField(default=False, db_default=False,
                                          help_text="The file stated the UTC offset of taken_at")
    camera = models.CharField(max_length=200, blank=True, default="", db_default="", help_text="Make and model")
    chapters = models.PositiveIntegerField(null=True, blank=True, help_text="Videos: chapters")
    missing = models.BooleanField(default=False)
    missing_since = models.DateTimeField(null=True, blank=True, help_text="When a scan found it gone")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField(help_text="When a scan last recorded this file as new or changed")
    last_job_id = models.BigIntegerField(null=True, blank=True, help_text="The scan job that last wrote this row")
    # Set by a running scan on catalogued files it did not find; the scan flips them to
    # missing only when it completes, so a failed or cancelled scan marks nothing missing.
    unseen_by_job_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["library_id", "path"]
        constraints = [
            models.UniqueConstraint(fields=["library", "path"], name="mediafile_unique_path_per_library"),
        ]
        # Partial indexes for the rare rows (missing, flagged unseen): small, and free when a
        # scan inserts the common ones.
        indexes = [
            models.Index(fields=["library", "kind"], name="mediafile_library_kind"),
            models.Index(fields=["library"], condition=models.Q(missing=True), name="mediafile_library_missing"),
            models.Index(fields=["library", "unseen_by_job_id"], condition=models.Q(unseen_by_job_id__isnull=False),
                         name="mediafile_library_unseen"),
            # Moves are found by (size, mtime_ns) (scanner/engine/moves.py).
            models.Index(fields=["library", "size", "mtime_ns"], name="mediafile_library_size_mtime"),
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def mtime(self) -> datetime:
        return datetime.fromtimestamp(self.mtime_ns / 1e9, tz=UTC)
