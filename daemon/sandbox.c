/*
 * Each child's whole policy, one table each, read top to bottom: what it may
 * still ask of the kernel once its event loop and IPC are set up.  Anything
 * else kills the process (the parent then takes the daemon down, naming
 * the signal).  Both run after libevent and libc have done their lazy
 * start-up, and after the resource limits and PR_SET_NO_NEW_PRIVS.
 */

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>

#include "devrouletted.h"

/* Both processes: memory, time, randomness, the event loop, leaving. */
static const int sandbox_base[] = {
	SCMP_SYS(brk),
	SCMP_SYS(munmap),
	SCMP_SYS(mremap),
	SCMP_SYS(madvise),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(getrandom),
	SCMP_SYS(epoll_wait),
	SCMP_SYS(epoll_pwait),
	SCMP_SYS(epoll_ctl),
	SCMP_SYS(poll),
	SCMP_SYS(read),
	SCMP_SYS(readv),
	SCMP_SYS(write),
	SCMP_SYS(writev),
	SCMP_SYS(close),
	SCMP_SYS(getpid),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
#ifdef DR_SANITIZE
	/* The sanitizers' runtime reports and unwinds. */
	SCMP_SYS(gettid),
	SCMP_SYS(sched_yield),
	SCMP_SYS(sigaltstack),
	SCMP_SYS(rt_sigaction),
	SCMP_SYS(prctl),
	SCMP_SYS(futex),
	SCMP_SYS(tgkill),
	SCMP_SYS(getppid),
	SCMP_SYS(readlink),
	SCMP_SYS(openat),
	SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
	SCMP_SYS(mprotect),
#endif
};

/* The front also serves the network: accept and talk on TCP sockets. */
static const int sandbox_net[] = {
	SCMP_SYS(accept4),
	SCMP_SYS(recvfrom),
	SCMP_SYS(sendto),
	SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg),
	SCMP_SYS(shutdown),
	SCMP_SYS(setsockopt),
	SCMP_SYS(getsockopt),
	SCMP_SYS(getsockname),
	SCMP_SYS(getpeername),
	SCMP_SYS(fcntl),
	SCMP_SYS(dup),
	SCMP_SYS(timerfd_settime),
};

static void
sandbox_allow(scmp_filter_ctx ctx, const int *calls, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0) < 0)
			fatalx("%s: seccomp_rule_add %d", __func__, calls[i]);
}

/* mmap only for memory: never executable, never a file. */
static void
sandbox_mmap(scmp_filter_ctx ctx)
{
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 2,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0),
	    SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_ANONYMOUS, MAP_ANONYMOUS)) < 0)
		fatalx("%s: mmap rule", __func__);
#ifndef DR_SANITIZE
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0)
		fatalx("%s: mprotect rule", __func__);
#endif
}

/* FIONREAD is the only ioctl libevent needs (sizing its reads). */
static void
sandbox_ioctl(scmp_filter_ctx ctx)
{
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_EQ, FIONREAD, 0)) < 0)
		fatalx("%s: ioctl rule", __func__);
}

static void
sandbox_load(const char *title, int net)
{
	scmp_filter_ctx	 ctx;

	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		fatalx("%s: %s: seccomp_init", __func__, title);
	sandbox_allow(ctx, sandbox_base,
	    sizeof(sandbox_base) / sizeof(sandbox_base[0]));
	if (net)
		sandbox_allow(ctx, sandbox_net,
		    sizeof(sandbox_net) / sizeof(sandbox_net[0]));
	sandbox_mmap(ctx);
	sandbox_ioctl(ctx);
	if (seccomp_load(ctx) < 0)
		fatalx("%s: %s: seccomp_load", __func__, title);
	seccomp_release(ctx);
	log_debug("seccomp filter loaded");
}

void
sandbox_matcher(void)
{
	proc_limits(1);
	sandbox_load("matcher", 0);
#ifdef DR_TESTHOOKS
	/* regress: prove that a forbidden call kills the matcher. */
	if (getenv("DR_TEST_MATCHER_OPEN") != NULL)
		(void)open("/etc/passwd", O_RDONLY);
#endif
}

/*
 * OpenSSL sets itself up on first use and at exit with calls the filter
 * does not allow: do both now, and skip its exit handler.
 */
static void
sandbox_warm_crypto(void)
{
	char		 accept[WS_ACCEPT_LEN + 1];
	const char	*key = "dGhlIHNhbXBsZSBub25jZQ==";

	pow_init();
	if (ws_accept_key(key, strlen(key), accept) == -1)
		fatalx("%s: ws_accept_key", __func__);
}

void
sandbox_front(void)
{
	proc_limits(0);
	sandbox_warm_crypto();
	sandbox_load("front", 1);
}
