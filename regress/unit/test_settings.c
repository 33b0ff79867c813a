/*
 * Settings from the environment: defaults, each malformed value refused with
 * the variable named, STATE_DIR checks.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devrouletted.h"
#include "unit.h"

static char	 dir[] = "/tmp/dr-settings-XXXXXX";

static int
load(struct settings *s, char *err, size_t errsz)
{
	return (settings_load(s, err, errsz));
}

static void
refused(const char *name, const char *value)
{
	struct settings	 s;
	char		 err[512] = "";

	setenv(name, value, 1);
	CHECK(load(&s, err, sizeof(err)) == -1 && strstr(err, name) != NULL,
	    "%s=\"%s\" refused naming the variable", name, value);
	unsetenv(name);
}

int
main(void)
{
	struct settings	 s;
	char		 err[512];

	if (mkdtemp(dir) == NULL)
		return (2);
	setenv("STATE_DIR", dir, 1);
	CHECK(load(&s, err, sizeof(err)) == 0, "defaults load");
	CHECK(s.s_port == 8787 && s.s_max_sockets_per_ip == 3 &&
	    s.s_pow_bits == 16 && s.s_beat_timeout_ms == 25000 &&
	    s.s_room_max_msgs == 200 && s.s_max_outbuf == 65536 &&
	    s.s_ban_ms == 900000 && s.s_allow_debug == 0 &&
	    strcmp(s.s_host, "127.0.0.1") == 0 &&
	    strcmp(s.s_control_socket, "/run/devrouletted.sock") == 0,
	    "defaults are PROTOCOL.md section 8");

	setenv("POW_BITS", "4", 1);
	setenv("DEVROULETTE_ALLOW_DEBUG", "1", 1);
	CHECK(load(&s, err, sizeof(err)) == 0 && s.s_pow_bits == 4 &&
	    s.s_allow_debug == 1, "values are read");
	unsetenv("POW_BITS");
	unsetenv("DEVROULETTE_ALLOW_DEBUG");

	refused("PORT", "abc");
	refused("PORT", "65536");
	refused("PORT", "");
	refused("POW_BITS", "-1");
	refused("POW_BITS", "257");
	refused("MSG_MAX_CHARS", "");
	refused("MSG_MAX_CHARS", "0");
	refused("BEAT_TIMEOUT_MS", "1.5");
	refused("DEVROULETTE_ALLOW_DEBUG", "2");
	refused("DEVROULETTE_ALLOW_DEBUG", "yes");
	refused("TRUSTED_PROXY_HOPS", "65");
	refused("HOST", "");
	refused("HOST", "127.0.0.1 x");
	refused("CONTROL_SOCKET", "");
	refused("STATE_DIR", "relative/dir");
	refused("STATE_DIR", "/nonexistent/devroulette");

	rmdir(dir);
	return (unit_done());
}
