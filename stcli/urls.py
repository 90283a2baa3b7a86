"""Videos given as URLs: anything ffmpeg reads over a network (http, https, rtsp, rtmp,
ftp, ...). Such an input is never looked for on the filesystem and never given to decord
(which cannot read one); it goes through ffprobe and the ffmpeg pipe
(``video.FfmpegVideo``) with network timeouts (``video.network_options``), so that a dead
server fails one video instead of hanging the run.
"""

from __future__ import annotations

import os
import re

# ``scheme://``: a Windows path ("C:\\clips") has no "//", a file name no scheme.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
DEFAULT_TIMEOUT_S = 30.0


def is_url(text: str | os.PathLike[str]) -> bool:
    """Whether an input names a URL (``scheme://...``) rather than a file."""
    return isinstance(text, str) and bool(_URL.match(text))


def network_timeout_s() -> float:
    """How long a connection or a read may wait on a server: ``$STCLI_NET_TIMEOUT_S``,
    default 30 s."""
    try:
        value = float(os.environ.get("STCLI_NET_TIMEOUT_S", DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if value > 0 else DEFAULT_TIMEOUT_S
