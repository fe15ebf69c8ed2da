"""Real files of the types the media tests upload, made here (libmagic must recognise them)."""

import os
import struct
import zlib


def png(extra_bytes: int = 0) -> bytes:
    """A valid 16x16 RGB PNG, padded after its end with `extra_bytes` random bytes (still a PNG)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes([y * 16, 64, 128]) * 16 for y in range(16))  # filter byte, 16 pixels
    image = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return image + os.urandom(extra_bytes)


def pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


def html() -> bytes:
    return (
        b"<!DOCTYPE html>\n<html><head><title>x</title></head>"
        b"<body><script>alert(document.cookie)</script></body></html>\n"
    )


def mp4(extra_bytes: int = 0) -> bytes:
    """An ISO media file header (`ftyp` box, brand isom) and filler: libmagic says video/mp4."""
    ftyp = struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 512) + b"isomiso2"
    filler = os.urandom(extra_bytes)
    mdat = struct.pack(">I", 8 + len(filler)) + b"mdat" + filler
    return ftyp + mdat
