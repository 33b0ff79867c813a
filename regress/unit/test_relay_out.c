/*
 * relay_out.c: every outbound JSON message, byte for byte, and the
 * handles accepted from the matcher.
 */

#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include "relay.h"
#include "unit.h"

static void	test_fixed(void);
static void	test_msg(void);
static void	test_handles(void);
static int	is(size_t, const char *);

static char	 buf[OUT_MAX];

static int
is(size_t n, const char *want)
{
	return (n == strlen(want) && memcmp(buf, want, n) == 0);
}

static void
test_fixed(void)
{
	struct ipc_insights	 in;

	CHECK(is(out_hello(buf, sizeof(buf), "0123456789abcdef0123456789abcdef",
	    16, 10000), "{\"t\":\"hello\",\"v\":1,\"challenge\":"
	    "\"0123456789abcdef0123456789abcdef\",\"bits\":16,"
	    "\"deadline_ms\":10000}"), "hello");
	CHECK(is(out_ready(buf, sizeof(buf)), "{\"t\":\"ready\"}"), "ready");
	CHECK(is(out_queued(buf, sizeof(buf), 2),
	    "{\"t\":\"queued\",\"waiting\":2}"), "queued");
	CHECK(is(out_matched(buf, sizeof(buf), "quiet-otter", "brave-lynx"),
	    "{\"t\":\"matched\",\"you\":\"quiet-otter\","
	    "\"peer\":\"brave-lynx\"}"), "matched");
	CHECK(is(out_ended(buf, sizeof(buf), ENDED_PEER_LEFT),
	    "{\"t\":\"ended\",\"reason\":\"peer_left\"}"), "ended");
	CHECK(is(out_error(buf, sizeof(buf), ERR_JOIN_RATE),
	    "{\"t\":\"error\",\"code\":\"join_rate\","
	    "\"msg\":\"too many joins in the last minute\"}"), "error");

	memset(&in, 0, sizeof(in));
	in.i_online = 7;
	in.i_waiting = 1;
	in.i_rooms = 3;
	in.i_convos = 18446744073709551615ULL;
	in.i_messages = 42;
	CHECK(is(out_insights(buf, sizeof(buf), &in),
	    "{\"t\":\"insights\",\"online\":7,\"waiting\":1,\"rooms\":3,"
	    "\"convos\":18446744073709551615,\"messages\":42}"),
	    "insights outside a room");
	in.i_in_room = 1;
	in.i_room_messages = 5;
	in.i_room_seconds = 61;
	CHECK(is(out_insights(buf, sizeof(buf), &in),
	    "{\"t\":\"insights\",\"online\":7,\"waiting\":1,\"rooms\":3,"
	    "\"convos\":18446744073709551615,\"messages\":42,"
	    "\"room_messages\":5,\"room_seconds\":61}"),
	    "insights in a room");
	CHECK(out_insights(buf, 40, &in) == 0, "too small a buffer: 0");
}

static void
test_msg(void)
{
	static uint8_t	 text[IPC_TEXT_MAX];
	const char	*s = "say \"hi\" \\ caf\xc3\xa9 \xf0\x9f\x90\x99";
	size_t		 n;

	CHECK(is(out_msg(buf, sizeof(buf), (const uint8_t *)s, strlen(s)),
	    "{\"t\":\"msg\",\"text\":\"say \\\"hi\\\" \\\\ caf\xc3\xa9 "
	    "\xf0\x9f\x90\x99\"}"), "msg: quotes and backslashes escaped, "
	    "UTF-8 as is");
	CHECK(is(out_msg(buf, sizeof(buf), (const uint8_t *)"a\x01", 2),
	    "{\"t\":\"msg\",\"text\":\"a\\u0001\"}"), "msg: a control");
	CHECK(out_msg(buf, sizeof(buf), (const uint8_t *)"\xff", 1) == 0,
	    "msg: invalid UTF-8 refused");
	memset(text, '"', sizeof(text));
	n = out_msg(buf, sizeof(buf), text, sizeof(text));
	CHECK(n == 19 + 2 * sizeof(text) + 2, "msg: the largest text fits "
	    "(%zu bytes)", n);
	CHECK(out_msg(buf, 30, text, 10) == 0, "msg: too small a buffer");
}

static void
test_handles(void)
{
	char	 h[HANDLE_MAX + 1];

	CHECK(out_handle_valid("quiet-otter", sizeof(h)), "quiet-otter");
	CHECK(out_handle_valid("abc", sizeof(h)), "3 letters");
	CHECK(!out_handle_valid("ab", sizeof(h)), "2 letters");
	CHECK(!out_handle_valid("Quiet-otter", sizeof(h)), "a capital");
	CHECK(!out_handle_valid("a\"b-c", sizeof(h)), "a quote");
	memset(h, 'a', sizeof(h));
	h[HANDLE_MAX] = '\0';
	CHECK(out_handle_valid(h, sizeof(h)), "32 letters");
	h[HANDLE_MAX] = 'a';
	CHECK(!out_handle_valid(h, sizeof(h)), "no NUL");
}

int
main(void)
{
	test_fixed();
	test_msg();
	test_handles();
	return (unit_done());
}
