"""What files say inside: audio tags (mutagen), video streams (PyAV), photo facts (Pillow).

`dispatch` sends each extension to its reader; `pool` runs them in reader processes (`child`
is what runs inside one, with its CPU and memory limits), and `pending` waits for what they
read, with a timeout; `values` cleans what they return. The readers themselves (`audio`,
`video`, `photo`) are loaded by `dispatch` on first use and not exposed here.
"""

from scanner.core.readers.child import SHARE_READ_THREADS
from scanner.core.readers.dispatch import EMPTY_FILE, READ_EXTENSIONS, Metadata, read_many, read_metadata
from scanner.core.readers.pending import PendingReads, shutdown_pool
from scanner.core.readers.pool import READER_MEMORY, start_readers

__all__ = [
    "EMPTY_FILE", "READER_MEMORY", "READ_EXTENSIONS", "SHARE_READ_THREADS", "Metadata", "PendingReads", "read_many",
    "read_metadata", "shutdown_pool", "start_readers",
]
