from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from libraries.models import Library, MediaFile
from libraries.services import clean_library_path, library_check_path_change
from scanner.jobs.schedule import next_scan_at
from scanner.jobs.selectors import is_watched
from scanner.serializers import choice_error


class LibrarySerializer(serializers.ModelSerializer):
    next_scan_at = serializers.SerializerMethodField(help_text="When the schedule queues the next quick scan")
    watching = serializers.SerializerMethodField(help_text="A live server process is watching the folder now")
    changes_waiting = serializers.IntegerField(read_only=True, default=0,
                                               help_text="Changed paths noted and not yet in a scan")

    class Meta:
        model = Library
        fields = ["id", "name", "path", "kind", "scan_interval", "next_scan_at", "watch", "watching", "changes_waiting",
                  "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        # The path rules below also cover uniqueness.
        extra_kwargs: dict[str, dict[str, Any]] = {
            "path": {"validators": []},
            "kind": {"error_messages": choice_error("kind", Library.Kind.values)},
        }

    def get_next_scan_at(self, library: Library) -> datetime | None:
        return next_scan_at(library)

    def get_watching(self, library: Library) -> bool:
        return is_watched(library)

    def validate_path(self, value: str) -> str:
        library_id = self.instance.pk if self.instance else None
        try:
            real = clean_library_path(value, library_id=library_id)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        if self.instance:
            try:
                library_check_path_change(library=self.instance, path=real)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.messages) from None
        return real


class StreamSerializer(serializers.Serializer):
    """One track of a video (or Matroska audio) file, as FFmpeg reports it (scanner/core/readers/streams.py).
    The flags are false on rows read before they were (until a full scan reads them)."""

    type = serializers.ChoiceField(choices=["video", "audio", "subtitle"])
    codec = serializers.CharField(help_text="ffprobe's codec_name: h264, hevc, av1, aac, subrip, ...")
    language = serializers.CharField(allow_null=True,
                                     help_text="ISO 639-2/T code (eng, fra, deu, ...); null when unknown")
    title = serializers.CharField(required=False, help_text="The track's own name, when it has one")
    default = serializers.BooleanField(default=False,
                                       help_text="The player picks this track unless told otherwise")
    forced = serializers.BooleanField(default=False,
                                      help_text="Subtitles shown even with subtitles off (foreign dialogue)")
    hearing_impaired = serializers.BooleanField(default=False,
                                                help_text="For the deaf and hard of hearing (SDH, captions)")
    width = serializers.IntegerField(required=False, help_text="Video tracks: pixels, as stored")
    height = serializers.IntegerField(required=False, help_text="Video tracks: pixels, as stored")
    display_width = serializers.IntegerField(required=False,
                                             help_text="Video tracks with non-square pixels: the width shown")
    display_height = serializers.IntegerField(required=False,
                                              help_text="Video tracks with non-square pixels: the height shown")
    frame_rate = serializers.FloatField(required=False, help_text="Video tracks: average frames per second")
    bit_depth = serializers.IntegerField(required=False,
                                         help_text="Bits per pixel component (video), per sample (PCM, lossless)")
    channels = serializers.IntegerField(required=False, help_text="Audio tracks")
    channel_layout = serializers.CharField(required=False, help_text='Audio tracks: "stereo", "5.1(side)", ...')
    sample_rate = serializers.IntegerField(required=False, help_text="Audio tracks: Hz")
    bitrate = serializers.IntegerField(required=False, help_text="Bits per second, when the container says")


class MediaFileSerializer(serializers.ModelSerializer):
    mtime = serializers.DateTimeField(read_only=True)
    streams = StreamSerializer(many=True, read_only=True,
                               help_text="Videos and Matroska audio: their tracks; otherwise empty")
    artists = serializers.ListField(child=serializers.CharField(), read_only=True,
                                    help_text="Every credited artist; `artist` joins them with '; '")
    album_artists = serializers.ListField(child=serializers.CharField(), read_only=True)
    hdr = serializers.ChoiceField(choices=["hdr10", "hdr10+", "hlg", "dolby_vision"], allow_null=True, read_only=True,
                                  help_text="The main video's HDR format; null for SDR")

    class Meta:
        model = MediaFile
        fields = [
            "id", "library", "path", "kind", "extension", "size", "mtime", "missing", "duration", "title", "artist",
            "artists", "album", "album_artist", "album_artists", "track", "disc", "year", "genre", "codec", "bitrate",
            "sample_rate", "channels", "bit_depth", "width", "height", "rotation", "frame_rate", "hdr", "taken_at",
            "taken_at_offset", "camera", "streams", "chapters", "first_seen", "last_seen",
        ]
        read_only_fields = fields
