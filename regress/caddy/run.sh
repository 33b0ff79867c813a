#!/bin/sh
# devroulette behind a real Caddy: wss:// with DEVROULETTE_CA, TLS failures,
# X-Forwarded-For and TRUSTED_PROXY_HOPS.  BIN names the directory holding
# devroulette and devrouletted (default: bin); CADDY the caddy binary
# (default: /usr/bin/caddy).  Nothing leaves this machine.
cd "$(dirname "$0")/../.." || exit 1
exec /usr/bin/python3 regress/caddy/caddy_test.py
