#!/bin/sh
# devroulette(1) end-to-end tests: tmux, the real daemon (or DR_PEER_CMD),
# a raw WebSocket partner and a scripted fake server (e2e.py); then the
# Claude Code integration: init, hooks, the agent, the window
# (agent_test.py).  BIN names the directory holding devroulette and
# devrouletted (default: bin).
cd "$(dirname "$0")/../.." || exit 1
rc=0
/usr/bin/python3 regress/client/e2e.py || rc=1
/usr/bin/python3 regress/client/agent_test.py || rc=1
exit $rc
