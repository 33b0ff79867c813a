/*
 * relay_msg.c: the strict schema of PROTOCOL.md section 3, client to
 * server, and the JSON corners yajl would let through on its own.
 */

#include <sys/types.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"
#include "unit.h"

#define HEX64	"00112233445566778899aabbccddeeff" \
		"0123456789abcdef0123456789abcdef"

static void	test_types(void);
static void	test_schema(void);
static void	test_formats(void);
static void	test_numbers(void);
static void	test_strings(void);
static void	test_json(void);
static int	parse(const char *);
static int	parse_len(const char *, size_t);

static struct client_msg	cm;
static uint8_t			textbuf[WS_MAX_MESSAGE];

static int
parse_len(const char *s, size_t len)
{
	return (cmsg_parse((const uint8_t *)s, len, &cm, textbuf,
	    sizeof(textbuf)));
}

static int
parse(const char *s)
{
	return (parse_len(s, strlen(s)));
}

static void
test_types(void)
{
	static const uint8_t key[MATCH_KEY_LEN] = {
		0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
		0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef
	};

	CHECK(parse("{\"t\":\"pow\",\"nonce\":\"aZ09\"}") == 0 &&
	    cm.cm_type == CMSG_POW && cm.cm_noncelen == 4 &&
	    strcmp(cm.cm_nonce, "aZ09") == 0, "pow");
	CHECK(parse("{\"t\":\"join\",\"v\":1,\"key\":\"" HEX64 "\","
	    "\"mode\":\"task\"}") == 0 && cm.cm_type == CMSG_JOIN &&
	    cm.cm_v == 1 && cm.cm_mode == MODE_TASK &&
	    memcmp(cm.cm_key, key, sizeof(key)) == 0, "join task");
	CHECK(parse("{\"mode\":\"open\",\"key\":\"" HEX64 "\",\"v\":1,"
	    "\"t\":\"join\"}") == 0 && cm.cm_mode == MODE_OPEN,
	    "join open, members in any order");
	CHECK(parse("{\"t\":\"join\",\"v\":1,\"key\":\"" HEX64 "\","
	    "\"mode\":\"debug\"}") == 0 && cm.cm_mode == MODE_DEBUG,
	    "join debug");
	CHECK(parse("{\"t\":\"beat\"}") == 0 && cm.cm_type == CMSG_BEAT,
	    "beat");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"hi\"}") == 0 &&
	    cm.cm_type == CMSG_MSG && cm.cm_textlen == 2 &&
	    cm.cm_text == textbuf && memcmp(cm.cm_text, "hi", 2) == 0, "msg");
	CHECK(parse("{\"t\":\"skip\"}") == 0 && cm.cm_type == CMSG_SKIP,
	    "skip");
	CHECK(parse("{\"t\":\"report\"}") == 0 && cm.cm_type == CMSG_REPORT,
	    "report");
	CHECK(parse("{\"t\":\"insights\"}") == 0 &&
	    cm.cm_type == CMSG_INSIGHTS, "insights");
	CHECK(parse("{\"t\":\"done\"}") == 0 && cm.cm_type == CMSG_DONE,
	    "done");
	CHECK(parse(" \t\r\n{ \"t\" : \"beat\" }\n ") == 0,
	    "whitespace around and inside");
	CHECK(parse("{\"\\u0074\":\"\\u0062eat\"}") == 0 &&
	    cm.cm_type == CMSG_BEAT, "escaped member name and value");
}

static void
test_schema(void)
{
	CHECK(parse("{\"t\":\"beat\",\"t\":\"beat\"}") == -1, "duplicate t");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"a\",\"text\":\"b\"}") == -1,
	    "duplicate text");
	CHECK(parse("{\"t\":\"pow\",\"nonce\":\"a\",\"nonce\":\"a\"}") == -1,
	    "duplicate nonce");
	CHECK(parse("{\"t\":\"beat\",\"x\":1}") == -1, "unknown member");
	CHECK(parse("{\"t\":\"beat\",\"text\":\"a\"}") == -1,
	    "member of another type");
	CHECK(parse("{\"t\":\"msg\"}") == -1, "msg without text");
	CHECK(parse("{\"t\":\"pow\"}") == -1, "pow without nonce");
	CHECK(parse("{\"t\":\"join\",\"v\":1,\"key\":\"" HEX64 "\"}") == -1,
	    "join without mode");
	CHECK(parse("{\"t\":\"join\",\"key\":\"" HEX64 "\","
	    "\"mode\":\"task\"}") == -1, "join without v");
	CHECK(parse("{\"t\":\"join\",\"v\":1,\"mode\":\"task\"}") == -1,
	    "join without key");
	CHECK(parse("{\"t\":\"join\",\"v\":1,\"key\":\"" HEX64 "\","
	    "\"mode\":\"task\",\"nonce\":\"a\"}") == -1, "join with nonce");
	CHECK(parse("{\"text\":\"hi\"}") == -1, "no t");
	CHECK(parse("{}") == -1, "empty object");
	CHECK(parse("{\"t\":\"hello\"}") == -1, "unknown t");
	CHECK(parse("{\"t\":\"Beat\"}") == -1, "t is case-sensitive");
	CHECK(parse("{\"t\":\"beat \"}") == -1, "t with a space");
	CHECK(parse("{\"t\":\"\"}") == -1, "empty t");
	CHECK(parse("{\"t\":1}") == -1, "t a number");
	CHECK(parse("{\"t\":null}") == -1, "t null");
	CHECK(parse("{\"t\":true}") == -1, "t true");
	CHECK(parse("{\"t\":[\"beat\"]}") == -1, "t an array");
	CHECK(parse("{\"t\":{\"t\":\"beat\"}}") == -1, "t an object");
	CHECK(parse("{\"t\":\"msg\",\"text\":1}") == -1, "text a number");
	CHECK(parse("{\"t\":\"msg\",\"text\":null}") == -1, "text null");
	CHECK(parse("{\"t\":\"msg\",\"text\":[\"a\"]}") == -1,
	    "text an array");
	CHECK(parse("{\"t\":\"msg\",\"text\":{}}") == -1, "text an object");
	CHECK(parse("{\"t\":\"pow\",\"nonce\":12345}") == -1,
	    "nonce a number");
	CHECK(parse("{\"t\":\"beat\",\"x\":{}}") == -1, "nested object");
	CHECK(parse("{\"t\":\"beat\",\"x\":[]}") == -1, "nested array");
	CHECK(parse("[{\"t\":\"beat\"}]") == -1, "an array");
	CHECK(parse("\"beat\"") == -1, "a string");
	CHECK(parse("1") == -1, "a number");
	CHECK(parse("null") == -1, "null");
}

static void
test_formats(void)
{
	char	 buf[256];

	CHECK(parse("{\"t\":\"pow\",\"nonce\":\"\"}") == -1, "empty nonce");
	CHECK(parse("{\"t\":\"pow\",\"nonce\":\"ab-c\"}") == -1,
	    "nonce with -");
	CHECK(parse("{\"t\":\"pow\",\"nonce\":\"ab c\"}") == -1,
	    "nonce with a space");
	CHECK(parse("{\"t\":\"pow\",\"nonce\":\"\\u0061\"}") == 0 &&
	    strcmp(cm.cm_nonce, "a") == 0, "nonce escaped to a letter");
	CHECK(parse("{\"t\":\"pow\",\"nonce\":\"\\u00e9\"}") == -1,
	    "nonce not ASCII");
	CHECK(parse("{\"t\":\"pow\",\"nonce\":"
	    "\"0123456789abcdefABCDEF0123456789\"}") == 0 &&
	    cm.cm_noncelen == 32, "nonce of 32");
	CHECK(parse("{\"t\":\"pow\",\"nonce\":"
	    "\"0123456789abcdefABCDEF0123456789a\"}") == -1, "nonce of 33");

	CHECK(parse("{\"t\":\"join\",\"v\":1,\"key\":"
	    "\"00112233445566778899AABBCCDDEEFF"
	    "0123456789abcdef0123456789abcdef\",\"mode\":\"task\"}") == -1,
	    "key uppercase");
	CHECK(parse("{\"t\":\"join\",\"v\":1,\"key\":"
	    "\"0112233445566778899aabbccddeeff"
	    "0123456789abcdef0123456789abcdef\",\"mode\":\"task\"}") == -1,
	    "key of 63");
	CHECK(parse("{\"t\":\"join\",\"v\":1,\"key\":\"" HEX64 "0\","
	    "\"mode\":\"task\"}") == -1, "key of 65");
	CHECK(parse("{\"t\":\"join\",\"v\":1,\"key\":"
	    "\"g0112233445566778899aabbccddeeff"
	    "0123456789abcdef0123456789abcdef\",\"mode\":\"task\"}") == -1,
	    "key not hex");
	CHECK(parse("{\"t\":\"join\",\"v\":1,\"key\":\"\","
	    "\"mode\":\"task\"}") == -1, "empty key");
	CHECK(parse("{\"t\":\"join\",\"v\":1,\"key\":\"" HEX64 "\","
	    "\"mode\":\"Task\"}") == -1, "mode case-sensitive");
	CHECK(parse("{\"t\":\"join\",\"v\":1,\"key\":\"" HEX64 "\","
	    "\"mode\":\"chat\"}") == -1, "unknown mode");
	CHECK(parse("{\"t\":\"join\",\"v\":1,\"key\":\"" HEX64 "\","
	    "\"mode\":1}") == -1, "mode a number");
	snprintf(buf, sizeof(buf), "{\"t\":\"join\",\"v\":\"1\",\"key\":\"%s\","
	    "\"mode\":\"task\"}", HEX64);
	CHECK(parse(buf) == -1, "v a string");
	snprintf(buf, sizeof(buf), "{\"t\":\"join\",\"v\":true,\"key\":\"%s\","
	    "\"mode\":\"task\"}", HEX64);
	CHECK(parse(buf) == -1, "v true");
	snprintf(buf, sizeof(buf), "{\"t\":\"join\",\"v\":null,\"key\":\"%s\","
	    "\"mode\":\"task\"}", HEX64);
	CHECK(parse(buf) == -1, "v null");
}

/*
 * v is any JSON number, the caller closes 4005 unless it is 1: numbers too
 * large for a double are still numbers other than 1, not bad_frame.
 */
static void
test_numbers(void)
{
	static const struct {
		const char	*v;
		int		 ok;
		double		 want;
	} nums[] = {
		{ "1", 0, 1 },
		{ "1.0", 0, 1 },
		{ "1e0", 0, 1 },
		{ "10E-1", 0, 1 },
		{ "1.5", 0, 1.5 },
		{ "2", 0, 2 },
		{ "0", 0, 0 },
		{ "-1", 0, -1 },
		{ "-0", 0, 0 },
		{ "9223372036854775807", 0, 9223372036854775807.0 },
		{ "99999999999999999999", 0, 1e20 },
		{ "1e400", 0, HUGE_VAL },
		{ "-1e400", 0, -HUGE_VAL },
		{ "1.00000000000000000000001", 0, 1 },
		{ "1e-400", 0, 0 },
		{ "-", -1, 0 },
		{ "1e", -1, 0 },
		{ "1e+", -1, 0 },
		{ "01", -1, 0 },
		{ "+1", -1, 0 },
		{ "1.", -1, 0 },
		{ ".5", -1, 0 },
		{ "0x1", -1, 0 },
		{ "NaN", -1, 0 },
		{ "Infinity", -1, 0 }
	};
	char	 buf[256];
	size_t	 i;
	int	 r;

	CHECK(parse("{\"t\":\"join\",\"v\":1.000000000000000000000000000000"
	    "000000000000000000000000000000000000000000000000000000000000000000"
	    "000000000000000000000000000000000000000000000000000000000000000000"
	    ",\"key\":\"" HEX64 "\",\"mode\":\"task\"}") == 0 && cm.cm_v == 1,
	    "v with 160 fraction digits");
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		snprintf(buf, sizeof(buf), "{\"t\":\"join\",\"v\":%s,"
		    "\"key\":\"%s\",\"mode\":\"task\"}", nums[i].v, HEX64);
		r = parse(buf);
		CHECK(r == nums[i].ok && (r == -1 || cm.cm_v == nums[i].want),
		    "v %s", nums[i].v);
	}
}

static void
test_strings(void)
{
	static const uint8_t	 grin[] = { 0xf0, 0x9f, 0x98, 0x80 };
	char			*big;
	size_t			 n;

	CHECK(parse("{\"t\":\"msg\",\"text\":\"\\ud800\"}") == -1,
	    "lone high surrogate");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"\\ud800abc\"}") == -1,
	    "high surrogate then letters");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"\\udc00\"}") == -1,
	    "lone low surrogate");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"\\ude00\\ud83d\"}") == -1,
	    "pair in the wrong order");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"\\ud800\\ud800\"}") == -1,
	    "two high surrogates");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"\\ud800\\u0041\"}") == -1,
	    "high surrogate then a letter escape");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"\\ud800\\n\"}") == -1,
	    "high surrogate then another escape");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"a\\ud800\"}") == -1,
	    "high surrogate at the end of the text");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"\\\\ud800\"}") == 0 &&
	    cm.cm_textlen == 6 && memcmp(cm.cm_text, "\\ud800", 6) == 0,
	    "escaped backslash, then plain text");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"\\\"\\ud800\"}") == -1,
	    "escaped quote does not end the string");
	CHECK(parse("{\"t\":\"msg\",\"\\udc00\":\"a\"}") == -1,
	    "lone surrogate in a member name");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"\\ud83d\\ude00\"}") == 0 &&
	    cm.cm_textlen == 4 && memcmp(cm.cm_text, grin, 4) == 0,
	    "surrogate pair");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"\\uD83D\\uDE00\"}") == 0 &&
	    cm.cm_textlen == 4 && memcmp(cm.cm_text, grin, 4) == 0,
	    "surrogate pair, uppercase hex");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"\xf0\x9f\x98\x80\"}") == 0 &&
	    cm.cm_textlen == 4 && memcmp(cm.cm_text, grin, 4) == 0,
	    "raw UTF-8");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"a\\u0000b\"}") == 0 &&
	    cm.cm_textlen == 3 && memcmp(cm.cm_text, "a\0b", 3) == 0,
	    "NUL escape kept for the sanitiser");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"\"}") == 0 &&
	    cm.cm_textlen == 0, "empty text (the matcher says empty)");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"a\\tb\\\"\\\\\\/\"}") == 0 &&
	    cm.cm_textlen == 6 && memcmp(cm.cm_text, "a\tb\"\\/", 6) == 0,
	    "escapes unescaped");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"a\tb\"}") == -1,
	    "raw control character in a string");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"\\x41\"}") == -1,
	    "unknown escape");
	CHECK(parse("{\"t\":\"msg\",\"text\":\"\\u12\"}") == -1,
	    "short \\u escape");
	CHECK(parse_len("{\"t\":\"msg\",\"text\":\"\xc3\"}", 21) == -1,
	    "invalid UTF-8 refused anyway");

	/* The unescaped text never outgrows the input. */
	n = WS_MAX_MESSAGE;
	if ((big = malloc(n + 1)) == NULL)
		abort();
	memcpy(big, "{\"t\":\"msg\",\"text\":\"", 19);
	memset(big + 19, 'x', n - 21);
	memcpy(big + n - 2, "\"}", 3);
	CHECK(parse(big) == 0 && cm.cm_textlen == n - 21,
	    "a 16 KiB message");
	CHECK(cmsg_parse((const uint8_t *)big, n, &cm, textbuf, n - 22) ==
	    -1, "text larger than the caller's buffer");
	free(big);
}

static void
test_json(void)
{
	char	*deep;
	size_t	 i, n = 10000;

	CHECK(parse("{\"t\":\"beat\"}x") == -1, "trailing x");
	CHECK(parse("{\"t\":\"beat\"}{\"t\":\"beat\"}") == -1,
	    "two objects");
	CHECK(parse("{\"t\":\"beat\"} {\"t\":\"beat\"}") == -1,
	    "two objects, spaced");
	CHECK(parse("{\"t\":\"beat\"}}") == -1, "extra brace");
	CHECK(parse("{\"t\":\"beat\"") == -1, "unterminated object");
	CHECK(parse("{\"t\":\"beat") == -1, "unterminated string");
	CHECK(parse("{\"t\":\"beat\",}") == -1, "trailing comma");
	CHECK(parse("{'t':'beat'}") == -1, "single quotes");
	CHECK(parse("{t:\"beat\"}") == -1, "bare member name");
	CHECK(parse("/* c */{\"t\":\"beat\"}") == -1, "comment");
	CHECK(parse("{\"t\":\"beat\"}// c") == -1, "trailing comment");
	CHECK(parse("") == -1, "empty");
	CHECK(parse("   ") == -1, "blank");
	CHECK(parse_len("{\"t\":\"beat\"}\0", 13) == -1, "trailing NUL");
	CHECK(parse("\xef\xbb\xbf{\"t\":\"beat\"}") == -1, "BOM");

	if ((deep = malloc(2 * n + 1)) == NULL)
		abort();
	for (i = 0; i < n; i++) {
		deep[i] = '[';
		deep[n + i] = ']';
	}
	deep[2 * n] = '\0';
	CHECK(parse(deep) == -1, "deep arrays");
	memcpy(deep, "{\"t\":", 5);
	for (i = 5; i + 5 < n; i += 5)
		memcpy(deep + i, "{\"t\":", 5);
	deep[i] = '\0';
	CHECK(parse(deep) == -1, "deep objects");
	free(deep);
}

int
main(void)
{
	test_types();
	test_schema();
	test_formats();
	test_numbers();
	test_strings();
	test_json();
	return (unit_done());
}
