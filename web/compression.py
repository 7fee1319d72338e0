"""Compression of answers (Flask-Compress): zstd, brotli or gzip, as the browser accepts.

Pages, CSS, JavaScript, SVG, the manifest, JSON and CSV over ``MIN_SIZE`` bytes are
compressed: a phone on weak Wi-Fi loads the Now page in a fraction of the bytes. The event
stream (``text/event-stream``) is deliberately not in the list: a compressor holds bytes
back until it has enough to pack, which would delay each event; SSE events are small
anyway. Static files keep their long cache headers (web.pages); the compressed answer
carries ``Vary: Accept-Encoding``.

Hazard: none; it only shapes bytes.
"""

from __future__ import annotations

from flask import Flask
from flask_compress import Compress

MIMETYPES = ["text/html", "text/css", "text/javascript", "application/javascript",
             "application/json", "application/manifest+json", "image/svg+xml", "text/csv"]
MIN_SIZE = 500  # bytes: below this the headers outweigh the gain


def init_app(app: Flask) -> None:
    assert "text/event-stream" not in MIMETYPES  # events must never wait in a compressor
    app.config.setdefault("COMPRESS_MIMETYPES", MIMETYPES)
    app.config.setdefault("COMPRESS_MIN_SIZE", MIN_SIZE)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["br", "deflate"])
    Compress(app)
