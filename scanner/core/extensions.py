"""Which file names are media, by extension: the one table the walk and the watcher share. No Django here."""

VIDEO_EXTENSIONS = frozenset(
    "mkv mp4 m4v avi mov wmv webm ts m2ts mts mpg mpeg mpe vob flv ogv 3gp divx asf rm rmvb".split()
)
AUDIO_EXTENSIONS = frozenset(
    "mp3 flac m4a m4b aac ogg oga opus wav aif aiff wma ape wv mpc alac dsf dff mka spx".split()
)
IMAGE_EXTENSIONS = frozenset("jpg jpeg png webp gif heic heif avif bmp tif tiff".split())
KIND_BY_EXTENSION = {
    **{ext: "video" for ext in VIDEO_EXTENSIONS},
    **{ext: "audio" for ext in AUDIO_EXTENSIONS},
    **{ext: "image" for ext in IMAGE_EXTENSIONS},
}
