#!/usr/bin/env python3
"""bench/receiver.py PORT: a webhook receiver that answers at once.

asyncio over keep-alive connections: reads each request's headers and body,
answers 200 with no body, counts requests and distinct Vigil-Delivery ids.
SIGTERM prints {"requests": N, "distinct": M} and exits. The notifier's
throughput is measured against it, so it must not be the bottleneck.
"""
import asyncio
import json
import signal
import sys

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
requests = 0
seen = set()


async def serve(reader, writer):
    global requests
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length, did = 0, b""
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"vigil-delivery":
                    did = value.strip()
            if length:
                await reader.readexactly(length)
            requests += 1
            seen.add(did)
            writer.write(ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        writer.close()


async def main(port):
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=512)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()
    print(json.dumps({"requests": requests, "distinct": len(seen)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
