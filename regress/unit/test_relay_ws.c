/*
 * relay_ws.c: what a frame header alone decides (PROTOCOL.md section 1,
 * D10) and the frame budget's sliding window (D9), with a made-up clock.
 */

#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include "relay.h"
#include "unit.h"

static void	test_check(void);
static void	test_budget(void);
static int	check(int, int, int, int, uint64_t, uint32_t, uint32_t);

/* The verdict on a header with these bits, given the message so far. */
static int
check(int fin, int rsv, int opcode, int masked, uint64_t len,
    uint32_t msglen, uint32_t nframes)
{
	struct ws_frame	 wf;

	memset(&wf, 0, sizeof(wf));
	wf.wf_fin = fin;
	wf.wf_rsv = rsv;
	wf.wf_opcode = opcode;
	wf.wf_masked = masked;
	wf.wf_len = len;
	return (relay_ws_check(&wf, msglen, nframes));
}

static void
test_check(void)
{
	CHECK(check(1, 0, WS_OP_TEXT, 1, 10, 0, 0) == 0, "a text frame");
	CHECK(check(1, 0, WS_OP_TEXT, 0, 10, 0, 0) == 1002, "unmasked");
	CHECK(check(1, 4, WS_OP_TEXT, 1, 10, 0, 0) == 1002, "RSV1");
	CHECK(check(1, 1, WS_OP_PING, 1, 0, 0, 0) == 1002, "RSV3 on a ping");
	CHECK(check(1, 0, 0x3, 1, 0, 0, 0) == 1002, "opcode 3");
	CHECK(check(1, 0, 0xb, 1, 0, 0, 0) == 1002, "opcode 0xb");
	CHECK(check(0, 0, WS_OP_PING, 1, 0, 0, 0) == 1002, "fragmented ping");
	CHECK(check(1, 0, WS_OP_PONG, 1, 126, 0, 0) == 1002, "126 B pong");
	CHECK(check(1, 0, WS_OP_CLOSE, 1, 125, 0, 0) == 0, "125 B close");
	CHECK(check(1, 0, WS_OP_PING, 1, 5, 100, 3) == 0,
	    "a ping between fragments");
	CHECK(check(1, 0, WS_OP_BINARY, 1, 1, 0, 0) == 1003, "binary");
	CHECK(check(1, 0, WS_OP_BINARY, 1, 1, 10, 1) == 1002,
	    "binary in the middle of a text message");
	CHECK(check(1, 0, WS_OP_CONT, 1, 1, 0, 0) == 1002,
	    "continuation without a start");
	CHECK(check(1, 0, WS_OP_TEXT, 1, 1, 10, 1) == 1002,
	    "a new message before the last ended");
	CHECK(check(1, 0, WS_OP_CONT, 1, 1, 10, 1) == 0, "a continuation");
	CHECK(check(1, 0, WS_OP_TEXT, 1, WS_MAX_MESSAGE, 0, 0) == 0,
	    "a 16 KiB frame");
	CHECK(check(1, 0, WS_OP_TEXT, 1, WS_MAX_MESSAGE + 1, 0, 0) == 1009,
	    "16 KiB + 1 in one frame");
	CHECK(check(0, 0, WS_OP_TEXT, 1, 1ULL << 62, 0, 0) == 1009,
	    "a huge length");
	CHECK(check(1, 0, WS_OP_CONT, 1, 1, WS_MAX_MESSAGE - 1, 5) == 0,
	    "a message of 16 KiB");
	CHECK(check(1, 0, WS_OP_CONT, 1, 2, WS_MAX_MESSAGE - 1, 5) == 1009,
	    "a message of 16 KiB + 1");
	CHECK(check(1, 0, WS_OP_CONT, 1, 0, 10, WS_MAX_FRAMES - 1) == 0,
	    "the 64th frame");
	CHECK(check(1, 0, WS_OP_CONT, 1, 0, 10, WS_MAX_FRAMES) == 1009,
	    "the 65th frame");
}

static void
test_budget(void)
{
	struct budget	 bu;
	uint32_t	 t0 = 123456, t;
	int		 i, n;

	relay_budget_init(&bu, t0);
	for (i = n = 0; i < 25; i++)
		n += relay_budget_take(&bu, t0);
	CHECK(n == FRAME_BUDGET, "a burst: %d of 25 within budget", n);
	CHECK(!relay_budget_take(&bu, t0 + RELAY_BUDGET_MS - 1),
	    "none 999 ms later");
	CHECK(relay_budget_take(&bu, t0 + RELAY_BUDGET_MS),
	    "one 1000 ms later");

	/* A burst across a second boundary is capped too (sliding). */
	relay_budget_init(&bu, t0);
	for (i = n = 0; i < 15; i++)
		n += relay_budget_take(&bu, t0 + 900);
	for (i = 0; i < 15; i++)
		n += relay_budget_take(&bu, t0 + 1100);
	CHECK(n == FRAME_BUDGET, "15 + 15 across a boundary: %d", n);

	/* Frames over budget do not use it up. */
	relay_budget_init(&bu, t0);
	for (i = 0; i < FRAME_BUDGET; i++)
		(void)relay_budget_take(&bu, t0);
	for (i = 0; i < 100; i++)
		(void)relay_budget_take(&bu, t0 + 500);
	CHECK(relay_budget_take(&bu, t0 + 1000), "a flood does not extend it");

	/* Steady 20 per second is always within budget. */
	relay_budget_init(&bu, t0);
	for (i = n = 0, t = t0; i < 1000; i++, t += 50)
		n += relay_budget_take(&bu, t);
	CHECK(n == 1000, "20 per second for 50 s: %d of 1000", n);

	/* The 32-bit clock wraps. */
	relay_budget_init(&bu, UINT32_MAX - 10);
	for (i = n = 0; i < 25; i++)
		n += relay_budget_take(&bu, UINT32_MAX - 5 + i);
	CHECK(n == FRAME_BUDGET, "across the wrap: %d", n);
	CHECK(relay_budget_take(&bu, UINT32_MAX - 5 + RELAY_BUDGET_MS),
	    "and a window later");
}

int
main(void)
{
	test_check();
	test_budget();
	return (unit_done());
}
