"""multipart/form-data bodies (RFC 7578) -> {field name: {file name: file object}} for file parts and
{field name: text} for the others: the shape [code] documents for `_preprocess`'s data."""

from __future__ import annotations

import io
import re
from email.message import Message
from typing import Dict

from ..errors import RequestError

_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;,\s]+))', re.IGNORECASE)


def boundary_of(content_type: str) -> bytes:
    found = _BOUNDARY.search(content_type)
    if not found:
        raise RequestError("Content-Type %r has no boundary parameter: send a multipart/form-data body as HTTP "
                           "clients write it" % content_type, code="bad_multipart")
    return (found.group(1) or found.group(2)).encode("latin-1")


_SIMPLE = re.compile(r'^content-disposition:\s*form-data\s*;\s*name="([^"]*)"(?:\s*;\s*filename="([^"]*)")?\s*$',
                     re.IGNORECASE | re.MULTILINE)


def _disposition(head: str) -> tuple[str, str | None]:
    """(field name, file name or None) of a part's Content-Disposition: the plain form browsers and curl write
    directly, anything else (RFC 2231 encoded names, other parameter orders) through the email package."""
    found = _SIMPLE.search(head)
    if found and found.group(1) and "*" not in head.split("\r\n", 1)[0]:
        return found.group(1), found.group(2)
    headers = Message()
    for line in head.split("\r\n"):
        key, colon, value = line.partition(":")
        if colon:
            headers[key.strip()] = value.strip()
    name = headers.get_param("name", header="content-disposition")
    if not isinstance(name, str) or not name:
        raise RequestError("multipart part without a form-data name", code="bad_multipart")
    return name, headers.get_filename()


def parse_form(body: bytes, content_type: str) -> Dict[str, object]:
    delimiter = b"--" + boundary_of(content_type)
    sections = body.split(delimiter)
    if len(sections) < 3 or not sections[-1].startswith(b"--"):
        raise RequestError("multipart body does not open and close with its boundary: the upload is cut off or "
                           "malformed", code="bad_multipart")
    form: Dict[str, object] = {}
    for section in sections[1:-1]:
        if not section.startswith(b"\r\n") or not section.endswith(b"\r\n"):
            raise RequestError("multipart part without CRLF line breaks around its boundary", code="bad_multipart")
        head, separator, content = section[2:-2].partition(b"\r\n\r\n")
        if not separator:
            raise RequestError("multipart part without a blank line after its headers", code="bad_multipart")
        name, file_name = _disposition(head.decode("utf-8", "replace"))
        if file_name is None:
            form[name] = content.decode("utf-8", "replace")
        else:
            files = form.get(name)
            if not isinstance(files, dict):
                files = form[name] = {}
            files[file_name or "file"] = io.BytesIO(content)
    return form
