"""Malformed and unsupported requests get IB-style errors and the connection stays up."""

from __future__ import annotations

import asyncio
import struct

from ib_async import IB

from ib_emulator import Emulator
from ib_emulator.wire import FrameDecoder, encode_fields, frame

from .conftest import wait_for


async def raw_client(
    emu: Emulator, client_id: int = 77
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, FrameDecoder]:
    reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
    writer.write(b"API\0" + frame(b"v157..178"))
    writer.write(encode_fields([71, 2, client_id, ""]))
    await writer.drain()
    return reader, writer, FrameDecoder(expect_handshake=False)


async def read_until(reader: asyncio.StreamReader, decoder: FrameDecoder, pred) -> list[list[str]]:  # type: ignore[no-untyped-def]
    seen: list[list[str]] = []
    async with asyncio.timeout(3):
        while not any(pred(m) for m in seen):
            seen += decoder.feed(await reader.read(65536))
    return seen


async def test_malformed_request_gets_error_with_its_request_id_and_connection_stays(
    emulator: Emulator,
) -> None:
    reader, writer, dec = await raw_client(emulator)
    await read_until(reader, dec, lambda m: m[0] == "9")
    writer.write(encode_fields([9, 8, 4242, "notanumber"]))  # reqContractDetails, truncated
    msgs = await read_until(reader, dec, lambda m: m[0] == "4" and m[3] == "321")
    [err] = [m for m in msgs if m[0] == "4" and m[3] == "321"]
    assert err[2] == "4242"
    writer.write(encode_fields([49, 1]))
    await read_until(reader, dec, lambda m: m[0] == "49")
    writer.close()


async def test_unsupported_request_is_answered_not_dropped(emulator: Emulator) -> None:
    reader, writer, dec = await raw_client(emulator)
    writer.write(encode_fields([20, 555, 0, "SPY", "STK"]))  # reqHistoricalData
    msgs = await read_until(reader, dec, lambda m: m[0] == "4" and m[3] == "162")
    assert any(m[2] == "555" and "not supported" in m[4] for m in msgs if m[0] == "4")
    writer.close()


async def test_garbage_stream_closes_only_that_connection(emulator: Emulator, ib: IB) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
    writer.write(b"GET / HTTP/1.1\r\n\r\n")
    await writer.drain()
    assert await reader.read() == b""
    assert ib.isConnected()
    assert await ib.reqCurrentTimeAsync()


async def test_huge_frame_length_is_refused(emulator: Emulator) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
    writer.write(b"API\0" + struct.pack(">I", 2**31))
    await writer.drain()
    await wait_for(lambda: reader.at_eof() or True)
    assert await reader.read() == b""
