#!/usr/bin/python3
"""Two scripted developers chat through a running devrouletted.

Used by tools/demo.sh until you watch two real clients: it shows each step
of PROTOCOL.md from both sides.  Usage: demo.py ws://127.0.0.1:PORT/
"""
import asyncio
import hashlib
import json
import os
import sys

import websockets


def solve(challenge, bits):
    n = 0
    while True:
        nonce = format(n, "x")
        d = hashlib.sha256((challenge + nonce).encode()).digest()
        if int.from_bytes(d, "big") >> (256 - bits) == 0 if bits else True:
            return nonce
        n += 1


async def dev(name, url, lines, started):
    async with websockets.connect(url, subprotocols=["devroulette.v1"]) as ws:
        hello = json.loads(await ws.recv())
        await ws.send(json.dumps({"t": "pow",
                                  "nonce": solve(hello["challenge"],
                                                 hello["bits"])}))
        print(f"{name}: {await ws.recv()}")
        await started.wait() if name == "bob" else started.set()
        await ws.send(json.dumps({"t": "join", "v": 1, "mode": "open",
                                  "key": os.urandom(32).hex()}))
        while True:
            m = json.loads(await ws.recv())
            print(f"{name} <- {json.dumps(m)}")
            if m["t"] == "matched" or (m["t"] == "msg" and lines):
                if lines:
                    await asyncio.sleep(1.2)
                    text = lines.pop(0)
                    print(f"{name} -> {json.dumps(text)}")
                    await ws.send(json.dumps({"t": "msg", "text": text}))
                elif name == "alice":
                    await ws.send(json.dumps({"t": "insights"}))
            elif m["t"] == "msg" and name == "alice":
                await ws.send(json.dumps({"t": "insights"}))
            elif m["t"] == "insights":
                await ws.send(json.dumps({"t": "skip"}))
            elif m["t"] == "ended":
                await ws.send(json.dumps({"t": "done"}))
                return


async def main(url):
    started = asyncio.Event()
    await asyncio.gather(
        dev("alice", url, ["hi, waiting on a refactor too?",
                           "mine is rewriting a parser \x1b[31m(red?)\x1b[0m",
                           "nice, good luck!"], started),
        dev("bob", url, ["yes, 40 files of tests", "no colours here, sanitised",
                         "you too"], started))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1
                     else "ws://127.0.0.1:8787/"))
