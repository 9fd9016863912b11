"""Framing: length-prefixed NUL-terminated fields, tolerant of partial reads."""

from __future__ import annotations

import pytest
from ib_emulator.wire import FrameDecoder, FrameError, encode_fields, frame


def test_decoder_reassembles_messages_split_at_every_byte() -> None:
    stream = b"API\0" + frame(b"v157..178") + encode_fields([71, 2, 7, ""])
    decoder = FrameDecoder()
    messages = []
    for i in range(len(stream)):
        messages += decoder.feed(stream[i : i + 1])
    assert messages == [["v157..178"], ["71", "2", "7", ""]]


def test_decoder_returns_several_messages_from_one_read() -> None:
    decoder = FrameDecoder(expect_handshake=False)
    data = encode_fields([49, 1]) + encode_fields([8, 1, 1])
    assert decoder.feed(data) == [["49", "1"], ["8", "1", "1"]]


def test_decoder_rejects_a_stream_without_the_api_prefix() -> None:
    with pytest.raises(FrameError):
        FrameDecoder().feed(b"GET / HTTP/1.1\r\n")


def test_encoder_writes_bools_as_digits_and_none_as_empty() -> None:
    assert encode_fields([True, False, None, 1.5, 2.0]) == frame(b"1\x000\x00\x001.5\x002\x00")
