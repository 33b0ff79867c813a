/*
 * What every harness links: the stand-ins for fatalx() and mono_ms()
 * (see fuzz.h) and the failure report.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "fuzz.h"

uint64_t	 fuzz_now = 1000000;
jmp_buf		*fuzz_fatal_jmp;
char		 fuzz_fatal_msg[256];

uint64_t
__wrap_mono_ms(void)
{
	return (fuzz_now);
}

/*
 * The daemon would exit here.  Exiting inside libFuzzer is reported as a
 * crash without a stack, so an unexpected fatalx() aborts instead.
 */
void
__wrap_fatalx(const char *fmt, ...)
{
	va_list	 ap;
	jmp_buf	*jb = fuzz_fatal_jmp;

	va_start(ap, fmt);
	vsnprintf(fuzz_fatal_msg, sizeof(fuzz_fatal_msg), fmt, ap);
	va_end(ap);
	if (jb != NULL) {
		fuzz_fatal_jmp = NULL;
		longjmp(*jb, 1);
	}
	fprintf(stderr, "unexpected fatalx: %s\n", fuzz_fatal_msg);
	abort();
}

void
fuzz_fail(const char *file, int line, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "%s:%d: invariant broken: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}
