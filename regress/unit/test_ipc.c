/*
 * The IPC decoder with hostile input, and the counters file parser.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devrouletted.h"
#include "unit.h"

static void
test_decode(void)
{
	uint8_t		 buf[IPC_HDR_SIZE + 64];
	struct ipc_hdr	 h;
	size_t		 i;

	ipc_encode_hdr(buf, IMSG_QUEUED, 4, 0x1122334455667788ULL);
	memset(buf + IPC_HDR_SIZE, 7, 4);
	CHECK(ipc_decode(buf, IPC_HDR_SIZE + 4, &h) == 1 &&
	    h.ih_type == IMSG_QUEUED && h.ih_len == 4 &&
	    h.ih_peerid == 0x1122334455667788ULL, "whole message decodes");
	for (i = 0; i < IPC_HDR_SIZE + 4; i++)
		if (ipc_decode(buf, i, &h) != 0)
			break;
	CHECK(i == IPC_HDR_SIZE + 4, "every truncation asks for more");
	ipc_encode_hdr(buf, 0, 0, 1);
	CHECK(ipc_decode(buf, IPC_HDR_SIZE, &h) == -1, "type 0 refused");
	ipc_encode_hdr(buf, IMSG_MSG, IPC_MAX_PAYLOAD + 1, 1);
	CHECK(ipc_decode(buf, IPC_HDR_SIZE, &h) == -1,
	    "payload over the maximum refused from the header alone");
	ipc_encode_hdr(buf, IMSG_MSG, 0xffffffffU, 1);
	CHECK(ipc_decode(buf, sizeof(buf), &h) == -1, "length 2^32-1 refused");
	ipc_encode_hdr(buf, IMSG_MSG, IPC_MAX_PAYLOAD, 1);
	CHECK(ipc_decode(buf, sizeof(buf), &h) == 0,
	    "maximum payload waits for its bytes");
	ipc_encode_hdr(buf, IMSG_SKIP, 0, 9);
	CHECK(ipc_decode(buf, IPC_HDR_SIZE, &h) == 1 && h.ih_len == 0,
	    "empty payload is a whole message");
}

static void
test_counters(void)
{
	struct counters	 c;
	const char	*ok = "{\"connections\":5,\"convos\":2,"
	    "\"messages\":9,\"reports\":1}\n";
	const char	*bad[] = {
		"",
		"{}",
		"[]",
		"{\"connections\":5,\"convos\":2,\"messages\":9}",
		"{\"connections\":5,\"convos\":2,\"messages\":9,\"reports\":1,"
		    "\"x\":1}",
		"{\"connections\":-5,\"convos\":2,\"messages\":9,\"reports\":1}",
		"{\"connections\":5.5,\"convos\":2,\"messages\":9,"
		    "\"reports\":1}",
		"{\"connections\":\"5\",\"convos\":2,\"messages\":9,"
		    "\"reports\":1}",
		"{\"connections\":5,\"connections\":2,\"messages\":9,"
		    "\"reports\":1}",
		"{\"connections\":5,\"convos\":2,\"messages\":9,\"reports\":1}x",
	};
	size_t		 i;

	CHECK(counters_parse(ok, strlen(ok), &c) == 0 &&
	    c.c_connections == 5 && c.c_convos == 2 && c.c_messages == 9 &&
	    c.c_reports == 1, "counters file parses");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(counters_parse(bad[i], strlen(bad[i]), &c) == -1,
		    "malformed counters file %zu refused", i);
	CHECK(counters_parse("{\"a\":1}\0x", 9, &c) == -1,
	    "NUL inside the file refused");
}

static void
test_numbers(void)
{
	uint64_t	 v;

	CHECK(str_to_u64("8787", 0, 65535, &v) == 0 && v == 8787,
	    "decimal accepted");
	CHECK(str_to_u64("", 0, 10, &v) == -1, "empty refused");
	CHECK(str_to_u64("-1", 0, 10, &v) == -1, "sign refused");
	CHECK(str_to_u64("+1", 0, 10, &v) == -1, "plus refused");
	CHECK(str_to_u64(" 1", 0, 10, &v) == -1, "space refused");
	CHECK(str_to_u64("0x10", 0, 100, &v) == -1, "hex refused");
	CHECK(str_to_u64("1e3", 0, 10000, &v) == -1, "exponent refused");
	CHECK(str_to_u64("65536", 0, 65535, &v) == -1, "over range refused");
	CHECK(str_to_u64("0", 1, 10, &v) == -1, "under range refused");
	CHECK(str_to_u64("99999999999999999999999", 0, UINT64_MAX, &v) == -1,
	    "overflow refused");
	CHECK(str_to_u64("18446744073709551615", 0, UINT64_MAX, &v) == 0 &&
	    v == UINT64_MAX, "UINT64_MAX accepted");
}

int
main(void)
{
	test_decode();
	test_counters();
	test_numbers();
	return (unit_done());
}
