/*
 * A very small test harness: each check prints "ok - name" or
 * "not ok - name"; unit_done() prints the TAP plan and returns the exit
 * status.  tools/check.sh counts the lines.
 */

#ifndef DR_UNIT_H
#define DR_UNIT_H

#include <stddef.h>

extern int	unit_pass, unit_fail;

void	unit_ok(int, const char *, int, const char *, ...)
	    __attribute__((__format__ (printf, 4, 5)));
int	unit_done(void);

#define CHECK(cond, ...) \
	unit_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#endif
