/*
 * Logging in the OpenBSD manner: syslog when daemonised, stderr with -d.
 * A sandboxed child cannot reach syslog, so it installs a sink that hands
 * each formatted record to the parent over IPC.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "common.h"

static int	 log_debug_mode;	/* 1: stderr */
static int	 log_verbose;
static const char *log_procname;
static void	(*log_sink)(int, const char *);

static void	 vwarn_errno(int, const char *, va_list)
		    __attribute__((__format__ (printf, 2, 0)));

void
log_init(int debug, int facility)
{
	log_debug_mode = debug;
	log_verbose = debug;
	if (!debug)
		openlog("devrouletted", LOG_PID | LOG_NDELAY, facility);
	tzset();
}

void
log_procinit(const char *name)
{
	log_procname = name;
}

void
log_setverbose(int v)
{
	log_verbose = v;
}

int
log_getverbose(void)
{
	return (log_verbose);
}

void
log_setsink(void (*sink)(int, const char *))
{
	log_sink = sink;
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	char	 msg[1024];
	int	 saved = errno;

	if (log_procname != NULL) {
		int n = snprintf(msg, sizeof(msg), "%s: ", log_procname);

		if (n < 0 || (size_t)n >= sizeof(msg))
			n = 0;
		vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	} else
		vsnprintf(msg, sizeof(msg), fmt, ap);

	if (log_sink != NULL)
		log_sink(pri, msg);
	else if (log_debug_mode) {
		fprintf(stderr, "%s\n", msg);
		fflush(stderr);
	} else
		syslog(pri, "%s", msg);
	errno = saved;
}

/* A record formatted elsewhere (a child's), logged as it is. */
void
log_record(int pri, const char *msg)
{
	if (log_debug_mode) {
		fprintf(stderr, "%s\n", msg);
		fflush(stderr);
	} else
		syslog(pri, "%s", msg);
}

void
logit(int pri, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(pri, fmt, ap);
	va_end(ap);
}

static void
vwarn_errno(int pri, const char *fmt, va_list ap)
{
	char	 buf[768];
	int	 saved = errno;

	if (fmt == NULL) {
		logit(pri, "%s", strerror(saved));
		return;
	}
	vsnprintf(buf, sizeof(buf), fmt, ap);
	logit(pri, "%s: %s", buf, strerror(saved));
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vwarn_errno(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (log_verbose < 1)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vwarn_errno(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
