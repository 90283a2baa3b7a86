"""A small HTTP server on 127.0.0.1 for URL-input tests: serves a folder with byte-range
support (``Range: bytes=A-B``, 206 answers), which ffmpeg's MP4 reader uses to seek;
Python's ``SimpleHTTPRequestHandler`` ignores ranges."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Files of ``directory``, whole or by one byte range."""

    def send_head(self):  # noqa: ANN201 - the base class's protocol
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if match is None or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        first = int(match[1]) if match[1] else max(size - int(match[2] or 0), 0)
        last = min(int(match[2]), size - 1) if match[1] and match[2] else size - 1
        if first >= size:
            self.send_error(416)
            return None
        f = open(path, "rb")  # noqa: SIM115 - closed by the base class after copying
        f.seek(first)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.send_header("Content-Length", str(last - first + 1))
        self.end_headers()
        self._remaining = last - first + 1
        return f

    def copyfile(self, source, outputfile) -> None:  # noqa: ANN001
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            return super().copyfile(source, outputfile)
        with contextlib.suppress(ConnectionError):  # ffmpeg hangs up once it has enough
            while remaining > 0:
                block = source.read(min(remaining, 1 << 16))
                if not block:
                    break
                outputfile.write(block)
                remaining -= len(block)
        return None

    def log_message(self, *args: object) -> None:  # quiet: pytest shows stderr on failure
        pass


@contextlib.contextmanager
def serving(folder: str | os.PathLike[str]) -> Iterator[str]:
    """Serve ``folder`` on a free loopback port for the ``with`` block; yields the base URL
    (``http://127.0.0.1:PORT/``). The server stops when the block ends."""
    handler = functools.partial(RangeHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
