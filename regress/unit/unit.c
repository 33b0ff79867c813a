#include <stdarg.h>
#include <stdio.h>

#include "unit.h"

int	unit_pass, unit_fail;

void
unit_ok(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list	ap;

	printf("%s - ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok) {
		printf(" (%s:%d)", file, line);
		unit_fail++;
	} else
		unit_pass++;
	printf("\n");
	fflush(stdout);
}

int
unit_done(void)
{
	printf("1..%d\n", unit_pass + unit_fail);
	return unit_fail ? 1 : 0;
}
