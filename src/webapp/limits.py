"""Request bodies read with a hard limit, with or without ``Content-Length``.

Werkzeug cuts a streamed body (``Transfer-Encoding: chunked``, no
``Content-Length``) silently at ``max_content_length`` and hands the view
the first part, as if that were the whole body. :func:`read_limited` reads
the WSGI input itself instead: at most ``limit + 1`` bytes, so one byte too
many is noticed and answered **413**, before anything is parsed or stored. A
``Content-Length`` above the limit is refused without reading at all.
"""

from __future__ import annotations

from flask import abort, request
from werkzeug.wsgi import get_input_stream

__all__ = ["TRIGGER_BODY_BYTES", "read_limited"]

#: Largest trigger request body; a real one is a few dozen bytes.
TRIGGER_BODY_BYTES = 64 * 1024

_CHUNK = 64 * 1024


def read_limited(limit: int, advice: str = "") -> bytes:
    """The current request's whole body, or ``abort(413)`` when it is longer than ``limit`` bytes."""
    message = f"the request body is larger than {limit} bytes{advice}"
    length = request.content_length
    if length is not None and length > limit:
        abort(413, message)
    # Content-Length given: the stream stops there. Chunked under gunicorn: the server
    # ends the stream (wsgi.input_terminated). Neither: an empty body, as werkzeug reads it.
    stream = get_input_stream(request.environ, max_content_length=None)
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        part = stream.read(min(_CHUNK, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > limit:
        abort(413, message)
    return b"".join(parts)
