/*
 * PROTOCOL.md section 8: every setting from the environment, checked
 * strictly.  A malformed value stops the daemon with a message naming the
 * variable; nothing falls back silently.
 */

#include <sys/stat.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devrouletted.h"

#define I32MAX	2147483647ULL

struct settings	*env;	/* every process reads its settings here */

enum setting_kind {
	SET_U16,
	SET_U32,
	SET_U64,
	SET_BOOL
};

struct setting {
	const char	*st_name;
	int		 st_kind;
	size_t		 st_off;
	uint64_t	 st_def;
	uint64_t	 st_min;
	uint64_t	 st_max;
};

#define OFF(m)	offsetof(struct settings, m)

/* Timers stay within what an int of milliseconds (and libevent) holds. */
static const struct setting numeric[] = {
	{ "PORT", SET_U16, OFF(s_port), 8787, 0, 65535 },
	{ "TRUSTED_PROXY_HOPS", SET_U32, OFF(s_trusted_proxy_hops), 0, 0, 64 },
	{ "PREFORK", SET_U32, OFF(s_prefork), 1, 1, PREFORK_MAX },
	{ "MAX_TOTAL_SOCKETS", SET_U32, OFF(s_max_total_sockets), 10000, 1,
	    10000000 },
	{ "MAX_SOCKETS_PER_IP", SET_U32, OFF(s_max_sockets_per_ip), 3, 1,
	    10000000 },
	{ "JOINS_PER_MIN", SET_U32, OFF(s_joins_per_min), 5, 1, 10000000 },
	{ "POW_BITS", SET_U32, OFF(s_pow_bits), 16, 0, 256 },
	{ "POW_DEADLINE_MS", SET_U32, OFF(s_pow_deadline_ms), 10000, 1,
	    I32MAX },
	{ "HANDSHAKE_TIMEOUT_MS", SET_U32, OFF(s_handshake_timeout_ms), 5000,
	    1, I32MAX },
	{ "PING_INTERVAL_MS", SET_U32, OFF(s_ping_interval_ms), 15000, 1,
	    I32MAX / 2 },
	{ "BEAT_TIMEOUT_MS", SET_U32, OFF(s_beat_timeout_ms), 25000, 1,
	    I32MAX },
	{ "MSG_INTERVAL_MS", SET_U32, OFF(s_msg_interval_ms), 1000, 0,
	    I32MAX },
	{ "MSG_MAX_CHARS", SET_U32, OFF(s_msg_max_chars), 500, 1, 16384 },
	{ "SKIP_INTERVAL_MS", SET_U32, OFF(s_skip_interval_ms), 500, 0,
	    I32MAX },
	{ "ROOM_MAX_MSGS", SET_U32, OFF(s_room_max_msgs), 200, 1, I32MAX },
	{ "ROOM_IDLE_MS", SET_U32, OFF(s_room_idle_ms), 600000, 1, I32MAX },
	{ "BAN_AFTER_VIOLATIONS", SET_U32, OFF(s_ban_after_violations), 10, 1,
	    10000000 },
	{ "BAN_MS", SET_U64, OFF(s_ban_ms), 900000, 1, 1ULL << 52 },
	{ "MAX_OUTBUF", SET_U64, OFF(s_max_outbuf), 65536, 1, 1ULL << 40 },
	{ "DEVROULETTE_ALLOW_DEBUG", SET_BOOL, OFF(s_allow_debug), 0, 0, 1 },
};

static int
settings_string(const char *name, const char *def, char *dst, size_t dstsz,
    char *err, size_t errsz)
{
	const char	*v = getenv(name);
	const char	*p;

	if (v == NULL)
		v = def;
	if (*v == '\0') {
		snprintf(err, errsz, "%s: empty value", name);
		return (-1);
	}
	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(err, errsz, "%s: control character in value",
			    name);
			return (-1);
		}
	if (strlcpy(dst, v, dstsz) >= dstsz) {
		snprintf(err, errsz, "%s: longer than %zu bytes", name,
		    dstsz - 1);
		return (-1);
	}
	return (0);
}

static int
settings_number(struct settings *s, const struct setting *st, char *err,
    size_t errsz)
{
	const char	*v = getenv(st->st_name);
	uint64_t	 n = st->st_def;
	char		*base = (char *)s + st->st_off;

	if (v != NULL && str_to_u64(v, st->st_min, st->st_max, &n) == -1) {
		snprintf(err, errsz, "%s: \"%.32s\" is not a decimal number "
		    "in %llu..%llu", st->st_name, v,
		    (unsigned long long)st->st_min,
		    (unsigned long long)st->st_max);
		return (-1);
	}
	switch (st->st_kind) {
	case SET_U16:
		*(uint16_t *)(void *)base = (uint16_t)n;
		break;
	case SET_U32:
		*(uint32_t *)(void *)base = (uint32_t)n;
		break;
	case SET_U64:
		*(uint64_t *)(void *)base = n;
		break;
	case SET_BOOL:
		*(int *)(void *)base = (int)n;
		break;
	}
	return (0);
}

static int
settings_state_dir(const struct settings *s, char *err, size_t errsz)
{
	struct stat	 sb;

	if (s->s_state_dir[0] != '/') {
		snprintf(err, errsz, "STATE_DIR: %s: not an absolute path",
		    s->s_state_dir);
		return (-1);
	}
	if (stat(s->s_state_dir, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errsz, "STATE_DIR: %s: missing or not a "
		    "directory", s->s_state_dir);
		return (-1);
	}
	if (access(s->s_state_dir, W_OK | X_OK) == -1) {
		snprintf(err, errsz, "STATE_DIR: %s: not writable",
		    s->s_state_dir);
		return (-1);
	}
	return (0);
}

/* Returns 0, or -1 with a message naming the variable in err. */
int
settings_load(struct settings *s, char *err, size_t errsz)
{
	size_t	 i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < sizeof(numeric) / sizeof(numeric[0]); i++)
		if (settings_number(s, &numeric[i], err, errsz) == -1)
			return (-1);
	if (settings_string("HOST", "127.0.0.1", s->s_host,
	    sizeof(s->s_host), err, errsz) == -1 ||
	    settings_string("STATE_DIR", "/var/lib/devroulette",
	    s->s_state_dir, sizeof(s->s_state_dir), err, errsz) == -1 ||
	    settings_string("CONTROL_SOCKET", "/run/devrouletted.sock",
	    s->s_control_socket, sizeof(s->s_control_socket), err,
	    errsz) == -1)
		return (-1);
	if (strpbrk(s->s_host, " \t") != NULL) {
		snprintf(err, errsz, "HOST: contains whitespace");
		return (-1);
	}
	return (settings_state_dir(s, err, errsz));
}

void
settings_log(const struct settings *s)
{
	log_debug("settings: port %u, hops %u, sockets %u (per ip %u), "
	    "joins/min %u, pow %u bits in %u ms, handshake %u ms, "
	    "ping %u ms, beat %u ms, %u front%s", s->s_port,
	    s->s_trusted_proxy_hops,
	    s->s_max_total_sockets, s->s_max_sockets_per_ip,
	    s->s_joins_per_min, s->s_pow_bits, s->s_pow_deadline_ms,
	    s->s_handshake_timeout_ms, s->s_ping_interval_ms,
	    s->s_beat_timeout_ms, s->s_prefork, s->s_prefork == 1 ? "" : "s");
	log_debug("settings: msg %u ms, %u chars, skip %u ms, room %u msgs "
	    "%u ms idle, ban after %u for %llu ms, outbuf %llu, debug %s",
	    s->s_msg_interval_ms, s->s_msg_max_chars, s->s_skip_interval_ms,
	    s->s_room_max_msgs, s->s_room_idle_ms, s->s_ban_after_violations,
	    (unsigned long long)s->s_ban_ms,
	    (unsigned long long)s->s_max_outbuf,
	    s->s_allow_debug ? "allowed" : "refused");
}
