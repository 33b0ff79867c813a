#!/bin/sh
# Install the Debian packages a job needs, when run as root; otherwise say
# which are missing.  Usage: tools/deps.sh build|demo|test
set -eu

build="make gcc libc6-dev pkg-config libevent-dev libssl-dev libyajl-dev
libseccomp-dev libbsd-dev libncurses-dev"
demo="$build python3 python3-websockets tmux"
test="$demo python3-pytest python3-pytest-timeout cppcheck clang clang-tools libclang-rt-14-dev
mandoc strace caddy systemd openssl util-linux mount passwd"

case "${1:-build}" in
build)	want=$build ;;
demo)	want=$demo ;;
test)	want=$test ;;
*)	echo "usage: tools/deps.sh build|demo|test" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q "install ok installed" || missing="$missing $p"
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing Debian packages:$missing" >&2
		echo "run as root, or: sudo apt-get install -y$missing" >&2
		exit 1
	fi
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq $missing >/dev/null
fi

# As root the daemon's children drop to this user (devrouletted(8)).
if [ "$(id -u)" -eq 0 ] && ! getent passwd _devroulette >/dev/null; then
	useradd --system --no-create-home --home-dir /var/empty \
	    --shell /usr/sbin/nologin _devroulette
fi
exit 0
