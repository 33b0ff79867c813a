/*
 * Small helpers with no better home: the monotonic clock every timer and
 * rate limit uses, and strict decimal parsing for settings.
 */

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"

uint64_t
mono_ms(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("clock_gettime");
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/*
 * Plain decimal digits only: no sign, no spaces, no 0x, no exponent, not
 * empty.  Returns 0 and stores the value, or -1 if malformed or out of
 * [min, max].
 */
int
str_to_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t	 v = 0;
	const char	*p;

	if (s == NULL || *s == '\0')
		return (-1);
	for (p = s; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return (-1);
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return (-1);
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v < min || v > max)
		return (-1);
	*out = v;
	return (0);
}
