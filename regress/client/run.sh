#!/bin/sh
# devroulette(1) end-to-end tests: tmux, the real daemon (or DR_PEER_CMD),
# a raw WebSocket partner and a scripted fake server.  BIN names the
# directory holding devroulette and devrouletted (default: bin).
cd "$(dirname "$0")/../.." || exit 1
exec /usr/bin/python3 regress/client/e2e.py
