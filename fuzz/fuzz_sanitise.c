/*
 * The section 5 sanitiser (common/sanitise.c), which both the matcher and
 * every client trust to make text safe for a terminal.  Besides memory
 * safety, each run checks what the protocol promises of the output: valid
 * UTF-8, no longer than the input, no C0, DEL, C1 (so no ESC and no 8-bit
 * introducer) and no bidi formatting character left, the code point count
 * right, and a second pass changing nothing.  The contract says the input
 * is valid UTF-8; the promises are checked for any input, since the
 * sanitiser says it keeps them even then.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fuzz.h"

static int	 banned(uint32_t);

/* What section 5 removes; TAB is removed too, as it becomes a space. */
static int
banned(uint32_t cp)
{
	return (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
	    cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t		*out, *again;
	size_t		 olen, alen, ncp, ancp, i;
	uint32_t	 cp;
	int		 n;

	/* Exactly the promised bound, so that ASan sees any overrun. */
	out = malloc(size);
	again = malloc(size);
	if (size > 0 && (out == NULL || again == NULL))
		abort();

	olen = sanitise(data, size, out, &ncp);
	FUZZ_CHECK(olen <= size, "output %zu > input %zu", olen, size);
	FUZZ_CHECK(utf8_valid(out, olen), "output is not UTF-8");
	FUZZ_CHECK(ncp == utf8_count(out, olen), "count %zu, %zu code points",
	    ncp, utf8_count(out, olen));
	for (i = 0; i < olen; i += n) {
		n = utf8_decode(out + i, olen - i, &cp);
		FUZZ_CHECK(n > 0, "undecodable at %zu", i);
		FUZZ_CHECK(!banned(cp), "U+%04X left at byte %zu", cp, i);
	}
	for (i = 0; i < olen && out[i] == ' '; i++)
		;
	FUZZ_CHECK(sanitise_empty(out, olen) == (i == olen),
	    "sanitise_empty disagrees");

	alen = sanitise(out, olen, again, &ancp);
	FUZZ_CHECK(alen == olen && memcmp(out, again, olen) == 0 &&
	    ancp == ncp, "not idempotent");

	/* A NULL count is allowed and must not change the text. */
	alen = sanitise(data, size, again, NULL);
	FUZZ_CHECK(alen == olen && memcmp(out, again, olen) == 0,
	    "NULL count changes the output");

	free(out);
	free(again);
	return (0);
}
