"""JPEG structure: marker segments, scans, and whether the scans are complete.

libjpeg (inside OpenCV and TensorFlow) treats a scan whose data ends early as a *warning*:
it prints "Corrupt JPEG data: premature end of data segment" on stderr, fills the rest
of the image with zero coefficients (flat grey) and returns it. Neither decoder reports
the warning to the caller, so the checks are made here, on the bytes:

* ``parse`` walks the marker segments from SOI to EOI; a segment or scan running past
  the end of the data, a byte where a marker should be, or an unknown marker is an error.
* ``check_scans`` needs no decoding: every frame component is coded by some scan; a
  progressive file refines every coefficient of every component to full precision (a
  file cut before its last scans fails this); with a restart interval, every scan holds
  all its restart markers.
* ``check_last_scan`` walks the Huffman codes of the last scan of a sequential file and
  counts its blocks: a file cut inside that scan (its end marker appended or not) has
  fewer than the frame needs. It costs about as much as Python decoding the symbols,
  so ``needs_walk`` first looks at the decoded image: libjpeg leaves the blocks it had no
  data for at luma 128 exactly, so a walk is only needed when a corner of the image is
  flat mid-grey.

Not detected: a cut inside the final scan of a progressive file (those scans only add
precision) and arithmetic-coded files (rare; their scans are checked structurally only).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import struct
from collections.abc import Iterator

import numpy as np

SOI, EOI, SOS, DHT, DRI, DNL, COM = 0xD8, 0xD9, 0xDA, 0xC4, 0xDD, 0xDC, 0xFE
SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_SEQUENTIAL_HUFFMAN = {0xC0, 0xC1}
_PROGRESSIVE_HUFFMAN = 0xC2
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RSTn: no length field
# Marker segments with a length field that may appear between SOI and EOI.
_SEGMENTS = {*SOF_MARKERS, DHT, 0xCC, 0xDB, DNL, DRI, 0xDE, 0xDF, COM, *range(0xE0, 0xF0)}
_RESTART = re.compile(rb"\xff+[\xd0-\xd7]")


class JpegStructureError(ValueError):
    """The bytes are not a complete JPEG; the message says why (without the file name)."""


@dataclasses.dataclass(frozen=True)
class Frame:
    """The SOFn header: coding process, size, and (id, h, v) sampling per component."""

    marker: int
    height: int
    width: int
    components: tuple[tuple[int, int, int], ...]


@dataclasses.dataclass(frozen=True)
class Scan:
    """One SOS segment and its entropy-coded data (restart markers still in place)."""

    components: tuple[int, ...]  # component ids
    dc_tables: tuple[bytes | None, ...]  # per component: DHT bytes in effect (or None)
    ac_tables: tuple[bytes | None, ...]
    ss: int
    se: int
    ah: int
    al: int
    restart_interval: int
    data: bytes


def segments(data: bytes) -> Iterator[tuple[int, int, int, int]]:
    """Yields (marker, its offset, start of its payload, end of its payload), SOI to EOI.

    The offset is that of the 0xFF just before the marker byte. SOS's payload is its
    header; the entropy-coded data after it is skipped (it ends where the next yielded
    marker begins). Stops after EOI.

    Raises:
        JpegStructureError: no SOI, a segment past the end, garbage where a marker should
            be, an unknown marker, or no EOI.
    """
    if data[:2] != b"\xff\xd8":
        raise JpegStructureError("no JPEG start-of-image marker")
    pos, n = 2, len(data)
    while True:
        if pos >= n:
            raise JpegStructureError("truncated JPEG (no end-of-image marker)")
        if data[pos] != 0xFF:
            raise JpegStructureError(
                f"corrupt JPEG (byte 0x{data[pos]:02x} at {pos} where a marker should be)"
            )
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            raise JpegStructureError("truncated JPEG (no end-of-image marker)")
        marker = data[pos]
        pos += 1
        if marker == EOI:
            yield marker, pos - 2, pos, pos
            return
        if marker in _STANDALONE:
            yield marker, pos - 2, pos, pos
            continue
        if marker != SOS and marker not in _SEGMENTS:
            raise JpegStructureError(f"corrupt JPEG (unknown marker 0xff{marker:02x} at {pos - 2})")
        if pos + 2 > n:
            raise JpegStructureError("truncated JPEG (inside a marker segment)")
        end = pos + struct.unpack(">H", data[pos : pos + 2])[0]
        if end > n or end < pos + 2:
            raise JpegStructureError(
                f"truncated JPEG (marker 0xff{marker:02x} segment runs past the end)"
            )
        yield marker, pos - 2, pos + 2, end
        pos = end
        if marker == SOS:
            pos = _scan_end(data, pos)


def _scan_end(data: bytes, pos: int) -> int:
    """Offset of the 0xFF before the marker ending the entropy-coded data from ``pos``:
    the first one that is not a stuffed zero, a restart marker or a fill byte."""
    find, n = data.find, len(data)
    while True:
        pos = find(b"\xff", pos)
        if pos < 0 or pos + 1 >= n:
            raise JpegStructureError("truncated JPEG (scan data without an end marker)")
        following = data[pos + 1]
        if following not in (0x00, 0xFF) and not 0xD0 <= following <= 0xD7:
            return pos
        pos += 1 if following == 0xFF else 2


def parse(data: bytes) -> tuple[Frame | None, list[Scan]]:
    """The frame header and the scans of a JPEG, in file order.

    Raises:
        JpegStructureError: see ``segments``; also a malformed SOF, SOS or DHT segment.
    """
    frame, scans = None, []
    dc: dict[int, bytes] = {}
    ac: dict[int, bytes] = {}
    restart = 0
    scan_header = None
    try:
        for marker, offset, start, end in segments(data):
            if scan_header is not None:  # the scan ended where this marker begins
                scans.append(_scan(data, *scan_header, offset, dc, ac, restart))
                scan_header = None
            body = data[start:end]
            if marker in SOF_MARKERS and frame is None:
                height, width, count = struct.unpack(">HHB", body[1:6])
                comps = tuple(
                    (body[6 + 3 * i], body[7 + 3 * i] >> 4, body[7 + 3 * i] & 15)
                    for i in range(count)
                )
                frame = Frame(marker, height, width, comps)
            elif marker == DHT:
                _read_dht(body, dc, ac)
            elif marker == DRI:
                restart = struct.unpack(">H", body[:2])[0]
            elif marker == SOS:
                scan_header = (body, end)
    except (struct.error, IndexError):
        raise JpegStructureError("corrupt JPEG (malformed marker segment)") from None
    return frame, scans


def _read_dht(body: bytes, dc: dict[int, bytes], ac: dict[int, bytes]) -> None:
    pos = 0
    while pos < len(body):
        tc_th = body[pos]
        count = sum(body[pos + 1 : pos + 17])
        table = body[pos + 1 : pos + 17 + count]
        if len(table) != 16 + count:
            raise JpegStructureError("corrupt JPEG (malformed Huffman table)")
        (ac if tc_th >> 4 else dc)[tc_th & 15] = table
        pos += 17 + count


def _scan(data, body, data_start, data_end, dc, ac, restart) -> Scan:
    count = body[0]
    ids = tuple(body[1 + 2 * i] for i in range(count))
    tables = [body[2 + 2 * i] for i in range(count)]
    ss, se, a = body[1 + 2 * count : 4 + 2 * count]
    return Scan(
        components=ids,
        dc_tables=tuple(dc.get(t >> 4) for t in tables),
        ac_tables=tuple(ac.get(t & 15) for t in tables),
        ss=ss,
        se=se,
        ah=a >> 4,
        al=a & 15,
        restart_interval=restart,
        data=data[data_start:data_end].rstrip(b"\xff"),  # fill bytes before the marker
    )


def _units(frame: Frame, scan: Scan) -> tuple[int, list[tuple[int, int]]]:
    """MCUs in the scan and, per MCU, (component index in scan, blocks) to decode."""
    hmax = max(h for _, h, _ in frame.components)
    vmax = max(v for _, _, v in frame.components)
    sampling = {cid: (h, v) for cid, h, v in frame.components}
    if len(scan.components) == 1:
        h, v = sampling[scan.components[0]]
        cols = math.ceil(math.ceil(frame.width * h / hmax) / 8)
        rows = math.ceil(math.ceil(frame.height * v / vmax) / 8)
        return cols * rows, [(0, 1)]
    mcus = math.ceil(frame.width / (8 * hmax)) * math.ceil(frame.height / (8 * vmax))
    return mcus, [(i, sampling[c][0] * sampling[c][1]) for i, c in enumerate(scan.components)]


def check_scans(frame: Frame | None, scans: list[Scan]) -> None:
    """The checks that need no decoding (see the module docstring).

    Raises:
        JpegStructureError: a component never coded, a progressive file missing its
            final scans, or a scan missing restart markers.
    """
    if frame is None:
        raise JpegStructureError("corrupt JPEG (no frame header)")
    if not scans:
        raise JpegStructureError("truncated JPEG (no scan)")
    ids = {cid for cid, _, _ in frame.components}
    if any(c not in ids for s in scans for c in s.components):
        raise JpegStructureError("corrupt JPEG (a scan codes an undeclared component)")
    missing = ids - {c for s in scans for c in s.components}
    if missing:
        raise JpegStructureError(f"truncated JPEG (components {sorted(missing)} never coded)")
    if frame.marker == _PROGRESSIVE_HUFFMAN:
        for cid in sorted(ids):
            final = np.zeros(64, bool)
            for s in scans:
                if cid in s.components and s.al == 0:
                    final[s.ss : s.se + 1] = True
            if not final.all():
                raise JpegStructureError(
                    "truncated JPEG (progressive scans end before every coefficient is complete)"
                )
    if frame.height == 0:  # height given later by a DNL marker: unit counts unknown
        return
    for s in scans:
        if s.restart_interval:
            units, _ = _units(frame, s)
            intervals = math.ceil(units / s.restart_interval)
            if len(_RESTART.findall(s.data)) < intervals - 1:
                raise JpegStructureError(
                    "truncated JPEG (a scan ends before its last restart interval)"
                )


def needs_walk(frame: Frame, scans: list[Scan], image: np.ndarray) -> bool:
    """Whether ``check_last_scan`` must run for this decoded image (cheap).

    A sequential Huffman scan cut short leaves its last blocks with zero coefficients,
    decoded as luma 128 exactly. Whichever corner the EXIF orientation moved the end of
    the scan to, it then shows flat luma within rounding of 128; images without such a
    corner are complete. A last scan without the first (luma) component is always walked.
    """
    if frame.marker not in _SEQUENTIAL_HUFFMAN or frame.height == 0:
        return False
    last = scans[-1]
    first, hmax = frame.components[0], max(h for _, h, _ in frame.components)
    vmax = max(v for _, _, v in frame.components)
    if first[0] not in last.components or (first[1], first[2]) != (hmax, vmax):
        return True
    m = min((frame.height - 1) % 8, (frame.width - 1) % 8) + 1
    weights = np.float32([0.299, 0.587, 0.114])
    for corner in (image[:m, :m], image[:m, -m:], image[-m:, :m], image[-m:, -m:]):
        if np.abs(corner.astype(np.float32) @ weights - 128.0).max() <= 2.0:
            return True
    return False


@functools.lru_cache(maxsize=64)
def _lookup(table: bytes) -> list[int]:
    """16-bit peek -> (code length << 8) | symbol; 0 marks an invalid code."""
    counts, symbols = table[:16], table[16:]
    lut = [0] * 65536
    code, k = 0, 0
    for length in range(1, 17):
        for _ in range(counts[length - 1]):
            shift = 16 - length
            lut[code << shift : (code + 1) << shift] = [(length << 8) | symbols[k]] * (1 << shift)
            code += 1
            k += 1
        code <<= 1
    return lut


def check_last_scan(frame: Frame, scans: list[Scan]) -> None:
    """Walks the Huffman codes of a sequential file's last scan and counts its blocks.

    Raises:
        JpegStructureError: the scan's data ends before its last block (or holds a code
            its tables do not define).
    """
    scan = scans[-1]
    if None in scan.dc_tables or None in scan.ac_tables:
        raise JpegStructureError("corrupt JPEG (a scan uses an undefined Huffman table)")
    units, layout = _units(frame, scan)
    blocks = [
        (_lookup(scan.dc_tables[i]), _lookup(scan.ac_tables[i]))
        for i, count in layout
        for _ in range(count)
    ]
    interval = scan.restart_interval or units
    pieces = _RESTART.split(scan.data) if scan.restart_interval else [scan.data]
    for index in range(math.ceil(units / interval)):
        todo = min(interval, units - index * interval)
        piece = pieces[index] if index < len(pieces) else b""
        if not _walk(piece.replace(b"\xff\x00", b"\xff"), todo, blocks):
            raise JpegStructureError(
                "truncated JPEG (scan data ends early: premature end of data segment)"
            )


def _walk(buf: bytes, mcus: int, blocks: list[tuple[list[int], list[int]]]) -> bool:
    """Whether ``buf`` holds ``mcus`` MCUs of ``blocks`` Huffman-coded blocks."""
    bits = len(buf) * 8
    buf += b"\x00\x00\x00\x00"
    frombytes = int.from_bytes
    pos = 0
    for _ in range(mcus):
        for dc, ac in blocks:
            e = dc[(frombytes(buf[pos >> 3 : (pos >> 3) + 3], "big") >> (8 - (pos & 7))) & 0xFFFF]
            if not e:
                return False
            pos += (e >> 8) + (e & 15)
            k = 1
            while k < 64:
                e = ac[
                    (frombytes(buf[pos >> 3 : (pos >> 3) + 3], "big") >> (8 - (pos & 7))) & 0xFFFF
                ]
                if not e:
                    return False
                rs = e & 0xFF
                pos += (e >> 8) + (rs & 15)
                if rs & 15:
                    k += (rs >> 4) + 1
                elif rs == 0xF0:
                    k += 16
                else:  # end of block
                    break
            if pos > bits:
                return False
    return True
