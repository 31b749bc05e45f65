"""Which alignment template made an aligned crop, recorded inside the crop's file.

A model only gives meaningful embeddings for crops made with its own template (its
``ModelSpec.template``); crops of another template are still faces of the right size, so
nothing fails and distances are silently wrong. ``align_dataset`` therefore records the
template in every crop it writes, in the file itself so that it travels with the file
when crops are copied, merged or renamed (a sidecar or the manifest would not):

* PNG: a ``tEXt`` chunk with keyword ``facenet_tf.template``, right after IHDR;
* JPEG: a comment (COM) segment ``facenet_tf.template=<name>`` after SOI and APP0.

Both are ignored by every decoder. ``read_template`` reads the first few KiB of a file
(the record sits in its header, before any pixel data); ``check_templates`` is what the
face pipeline calls before embedding crops given as already aligned.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence

from facenet_tf.errors import ImageReadError, TemplateMismatchError

TEMPLATE_KEY = "facenet_tf.template"
_PNG = b"\x89PNG\r\n\x1a\n"
_COM_PREFIX = TEMPLATE_KEY.encode() + b"="
_HEAD_BYTES = 4096  # enough for our own crops; longer headers are read again in full
_MAX_HEAD_BYTES = 1 << 20
_MORE = object()  # the header continues past the bytes read


def embed_template(encoded: bytes, template: str) -> bytes:
    """Returns PNG or JPEG bytes with ``template`` recorded in their header.

    The record goes before any earlier one, so ``read_template`` finds this one.

    Raises:
        ValueError: ``encoded`` is neither PNG nor JPEG, or ``template`` is not ASCII.
    """
    text = template.encode("ascii")
    if encoded[:8] == _PNG and encoded[12:16] == b"IHDR":
        body = TEMPLATE_KEY.encode() + b"\x00" + text
        chunk = struct.pack(">I", len(body)) + b"tEXt" + body
        chunk += struct.pack(">I", zlib.crc32(b"tEXt" + body))
        return encoded[:33] + chunk + encoded[33:]  # 33 = signature + IHDR chunk
    if encoded[:2] == b"\xff\xd8":
        pos = 2
        if encoded[2:4] == b"\xff\xe0":  # JFIF wants its APP0 right after SOI
            pos = 4 + struct.unpack(">H", encoded[4:6])[0]
        body = _COM_PREFIX + text
        segment = b"\xff\xfe" + struct.pack(">H", len(body) + 2) + body
        return encoded[:pos] + segment + encoded[pos:]
    raise ValueError("template can only be recorded in PNG or JPEG data")


def _png_template(head: bytes):
    pos = 8
    while pos + 8 <= len(head):
        length, kind = struct.unpack(">I4s", head[pos : pos + 8])
        if kind in (b"IDAT", b"IEND"):
            return None
        end = pos + 8 + length
        if end > len(head):
            return _MORE
        if kind == b"tEXt":
            key, _, value = head[pos + 8 : end].partition(b"\x00")
            if key == TEMPLATE_KEY.encode():
                return value.decode("latin-1")
        pos = end + 4  # CRC
    return _MORE


def _jpeg_template(head: bytes):
    pos = 2
    while pos + 4 <= len(head):
        if head[pos] != 0xFF:
            return None
        marker = head[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xDA, 0xD9):  # scan data or end: the header is over
            return None
        if marker in (0x01, *range(0xD0, 0xD8)):
            pos += 2
            continue
        end = pos + 2 + struct.unpack(">H", head[pos + 2 : pos + 4])[0]
        if end > len(head):
            return _MORE
        if marker == 0xFE and head[pos + 4 : end].startswith(_COM_PREFIX):
            return head[pos + 4 + len(_COM_PREFIX) : end].decode("latin-1")
        pos = end
    return _MORE


def _template_in(head: bytes):
    if head[:8] == _PNG:
        return _png_template(head)
    if head[:2] == b"\xff\xd8":
        return _jpeg_template(head)
    return None


def read_template(source: str | os.PathLike | bytes) -> str | None:
    """The template recorded in an aligned crop, or None when it records none.

    Only the file's header is read (a few KiB), never its pixels.

    Args:
        source: a file path, or the file's bytes.

    Raises:
        ImageReadError: the path is missing or unreadable (the message names it).
    """
    if isinstance(source, bytes | bytearray | memoryview):
        found = _template_in(bytes(source))
        return None if found is _MORE else found
    size = _HEAD_BYTES
    try:
        with open(source, "rb") as f:
            head = f.read(size)
            found = _template_in(head)
            if found is _MORE and len(head) == size:
                head += f.read(_MAX_HEAD_BYTES - size)
                found = _template_in(head)
    except OSError as e:
        raise ImageReadError(f"{os.fspath(source)}: cannot read ({e.strerror or e})") from None
    return None if found is _MORE else found


def check_templates(
    paths: Sequence[str | os.PathLike], template: str, *, limit: int = 10
) -> list[str]:
    """Checks that aligned crops were made with ``template``.

    Args:
        paths: crop files (PNG or JPEG; other files count as unknown).
        template: the template the model expects (``ModelSpec.template``).
        limit: how many offending files the error message names.

    Returns:
        The paths that record no template (e.g. crops made by other tools), for the
        caller to warn about; empty when every crop records ``template``.

    Raises:
        TemplateMismatchError: some crops record another template; the message names up
            to ``limit`` of them with their template and counts the rest.
        ImageReadError: a path is missing or unreadable.
    """
    unknown, mismatched = [], []
    for path in paths:
        found = read_template(path)
        if found is None:
            unknown.append(os.fspath(path))
        elif found != template:
            mismatched.append((os.fspath(path), found))
    if mismatched:
        shown = ", ".join(f"{p} ({t})" for p, t in mismatched[:limit])
        more = len(mismatched) - limit
        rest = f" and {more} more" if more > 0 else ""
        raise TemplateMismatchError(
            f"{len(mismatched)} of {len(paths)} aligned crops were made with another template "
            f"than the model's {template!r}: {shown}{rest}. Re-align the photos with "
            f"--template={template} (or with align_dataset's default for the model), or pass "
            "the original photos instead of aligned crops",
            expected=template,
            mismatched=tuple(mismatched),
        )
    return unknown
