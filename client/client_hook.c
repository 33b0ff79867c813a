/*
 * devroulette hook prompt | stop: what Claude Code runs on UserPromptSubmit
 * and Stop.  It reads the hook's JSON from standard input, keeps three
 * members (session_id, transcript_path, hook_event_name; the prompt is
 * parsed past, never kept), hands the task to the agent and exits.
 *
 * Whatever happens it prints nothing (Claude Code would add standard
 * output to the model's context), exits 0, and is done within a few
 * milliseconds: standard output and error go to /dev/null first, reading
 * stops at a deadline, the agent is reached without waiting, and a
 * watchdog ends the process well inside 50 ms if anything stalls.  When no
 * agent runs, "prompt" starts one, detached, and passes it the task
 * through a pipe.
 */

#include <sys/types.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yajl/yajl_parse.h>

#include "client.h"

/*
 * The budget is 50 ms from start to exit.  Claude Code writes the JSON
 * and closes the pipe at once, so reading takes well under a millisecond
 * unless the machine stalls: up to 25 ms is allowed for that, then the
 * agent has 10 ms (agent_write), and the watchdog ends whatever is left
 * at 40 ms, leaving 10 for the program's start and exit.
 */
#define HOOK_READ_MS		25	/* to read standard input */
#define HOOK_AGENT_MS		10	/* to hand the task to the agent */
#define HOOK_WATCHDOG_MS	40	/* then _exit(0), whatever we are doing */
#define HOOK_INPUT_MAX		(16 * 1024 * 1024)
#define SESSION_ID_MAX		256

struct hook_input {
	int	 hi_depth;
	int	 hi_member;		/* which of ours the next value is */
	char	 hi_session[SESSION_ID_MAX + 1];
	char	 hi_transcript[PATH_MAX];
	char	 hi_event[64];
};

enum {
	HI_OTHER,
	HI_SESSION,
	HI_TRANSCRIPT,
	HI_EVENT
};

static void	hook_watchdog(int);
static int	hook_string(void *, const unsigned char *, size_t);
static int	hook_key(void *, const unsigned char *, size_t);
static int	hook_open(void *);
static int	hook_close(void *);
static int	hook_scalar(void *);
static int	hook_bool(void *, int);
static int	hook_number(void *, const char *, size_t);
static int	hook_read(struct hook_input *);
static size_t	hook_message(const char *, const struct hook_input *,
		    uint8_t *, size_t);
static void	hook_spawn(const char *, const uint8_t *, size_t);

static const yajl_callbacks hook_callbacks = {
	.yajl_null = hook_scalar,
	.yajl_boolean = hook_bool,
	.yajl_number = hook_number,
	.yajl_string = hook_string,
	.yajl_start_map = hook_open,
	.yajl_map_key = hook_key,
	.yajl_end_map = hook_close,
	.yajl_start_array = hook_open,
	.yajl_end_array = hook_close,
};

static void
hook_watchdog(int sig)
{
	_exit(0);
}

static int
hook_open(void *arg)
{
	struct hook_input	*hi = arg;

	hi->hi_depth++;
	hi->hi_member = HI_OTHER;
	return (1);
}

static int
hook_close(void *arg)
{
	struct hook_input	*hi = arg;

	hi->hi_depth--;
	return (1);
}

static int
hook_scalar(void *arg)
{
	struct hook_input	*hi = arg;

	hi->hi_member = HI_OTHER;
	return (1);
}

static int
hook_bool(void *arg, int b)
{
	return (hook_scalar(arg));
}

static int
hook_number(void *arg, const char *s, size_t len)
{
	return (hook_scalar(arg));
}

/* Only members of the top-level object count. */
static int
hook_key(void *arg, const unsigned char *s, size_t len)
{
	struct hook_input	*hi = arg;

	hi->hi_member = HI_OTHER;
	if (hi->hi_depth != 1)
		return (1);
	if (len == 10 && memcmp(s, "session_id", len) == 0)
		hi->hi_member = HI_SESSION;
	else if (len == 15 && memcmp(s, "transcript_path", len) == 0)
		hi->hi_member = HI_TRANSCRIPT;
	else if (len == 15 && memcmp(s, "hook_event_name", len) == 0)
		hi->hi_member = HI_EVENT;
	return (1);
}

/* Values too long, or holding NUL or a newline, are left out. */
static int
hook_string(void *arg, const unsigned char *s, size_t len)
{
	struct hook_input	*hi = arg;
	char			*dst = NULL;
	size_t			 dlen = 0;

	switch (hi->hi_member) {
	case HI_SESSION:
		dst = hi->hi_session;
		dlen = sizeof(hi->hi_session);
		break;
	case HI_TRANSCRIPT:
		dst = hi->hi_transcript;
		dlen = sizeof(hi->hi_transcript);
		break;
	case HI_EVENT:
		dst = hi->hi_event;
		dlen = sizeof(hi->hi_event);
		break;
	}
	hi->hi_member = HI_OTHER;
	if (dst == NULL || len >= dlen || memchr(s, '\0', len) != NULL ||
	    memchr(s, '\n', len) != NULL)
		return (1);
	memcpy(dst, s, len);
	dst[len] = '\0';
	return (1);
}

/* Standard input, parsed as it comes, until its end or the deadline. */
static int
hook_read(struct hook_input *hi)
{
	uint8_t		 buf[65536];
	struct pollfd	 pfd;
	yajl_handle	 h;
	uint64_t	 deadline = mono_ms() + HOOK_READ_MS, now;
	size_t		 total = 0;
	ssize_t		 n;
	int		 ok = 0;

	if ((h = yajl_alloc(&hook_callbacks, NULL, hi)) == NULL)
		return (-1);
	/* A long prompt is only skipped over: no need to check its UTF-8. */
	yajl_config(h, yajl_dont_validate_strings, 1);
	/* Standard input is not ours to make non-blocking: poll first. */
	for (;;) {
		if ((now = mono_ms()) >= deadline)
			break;
		pfd.fd = STDIN_FILENO;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			break;
		if ((n = read(STDIN_FILENO, buf, sizeof(buf))) == -1 &&
		    errno == EINTR)
			continue;
		if (n == 0) {
			ok = yajl_complete_parse(h) == yajl_status_ok;
			break;
		}
		total += n;
		if (n < 0 || total > HOOK_INPUT_MAX ||
		    yajl_parse(h, buf, n) != yajl_status_ok)
			break;
	}
	yajl_free(h);
	return (ok ? 0 : -1);
}

/* The message for the agent; 0 if the input does not make a task. */
static size_t
hook_message(const char *verb, const struct hook_input *hi, uint8_t *buf,
    size_t len)
{
	char		 payload[AGENT_MSG_MAX];
	const char	*want, *v;
	size_t		 n = 0, i, l;
	int		 prompt = strcmp(verb, "prompt") == 0;

	want = prompt ? "UserPromptSubmit" : "Stop";
	if (hi->hi_event[0] != '\0' && strcmp(hi->hi_event, want) != 0)
		return (0);
	l = strlen(hi->hi_session);
	if (l == 0 || strspn(hi->hi_session, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") != l)
		return (0);
	memcpy(payload, hi->hi_session, l + 1);
	n = l + 1;
	if (!prompt)
		return (agent_encode(buf, len, AGENT_TASK_STOP, payload, n));
	if (hi->hi_transcript[0] != '/')
		return (0);
	l = strlen(hi->hi_transcript);
	memcpy(payload + n, hi->hi_transcript, l + 1);
	n += l + 1;
	/* Where a window can be shown is where the user runs Claude Code. */
	for (i = 0; window_env[i] != NULL; i++) {
		if ((v = getenv(window_env[i])) == NULL)
			continue;
		l = strlen(window_env[i]) + 1 + strlen(v) + 1;
		if (l > 2048 || n + l > sizeof(payload))
			continue;
		n += snprintf(payload + n, sizeof(payload) - n, "%s=%s",
		    window_env[i], v) + 1;
	}
	return (agent_encode(buf, len, AGENT_TASK_START, payload, n));
}

/*
 * A detached agent (double fork, new session, nothing inherited but the
 * pipe on AGENT_HANDOFF_FD) that reads the task from the pipe.
 */
static void
hook_spawn(const char *self, const uint8_t *msg, size_t len)
{
	char	path[PATH_MAX];
	pid_t	pid;
	int	p[2], fd;

	if (pipe_cloexec(p) == -1)
		return;
	if (write(p[1], msg, len) != (ssize_t)len) {
		close(p[0]);
		close(p[1]);
		return;
	}
	close(p[1]);
	if ((pid = fork()) == -1) {
		close(p[0]);
		return;
	}
	if (pid == 0) {
		setsid();
		if (fork() != 0)
			_exit(0);
		if (p[0] != AGENT_HANDOFF_FD) {
			if (dup2(p[0], AGENT_HANDOFF_FD) == -1)
				_exit(0);
		} else
			fcntl(p[0], F_SETFD, 0);
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		closefrom(AGENT_HANDOFF_FD + 1);
		/*
		 * Where the kernel cannot tell the agent its own path, its
		 * argv[0] must (self_path()).
		 */
		execl(self, exe_path(path, sizeof(path)) == 0 ? "devroulette" :
		    self, "agent", "--handoff", (char *)NULL);
		_exit(0);
	}
	close(p[0]);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
}

/* Never returns anything but 0, never prints. */
int
hook_main(int argc, char **argv, const char *prog)
{
	struct itimerval	 it;
	struct hook_input	 hi;
	uint8_t			 msg[IPC_HDR_SIZE + AGENT_MSG_MAX];
	char			 sock[PATH_MAX], self[PATH_MAX];
	size_t			 len;
	int			 fd, prompt;

	signal(SIGALRM, hook_watchdog);
	memset(&it, 0, sizeof(it));
	it.it_value.tv_usec = HOOK_WATCHDOG_MS * 1000;
	setitimer(ITIMER_REAL, &it, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((fd = open("/dev/null", O_WRONLY)) != -1) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (argc != 2 || (strcmp(argv[1], "prompt") != 0 &&
	    strcmp(argv[1], "stop") != 0))
		return (0);
	prompt = strcmp(argv[1], "prompt") == 0;

	memset(&hi, 0, sizeof(hi));
	if (hook_read(&hi) == -1 ||
	    (len = hook_message(argv[1], &hi, msg, sizeof(msg))) == 0)
		return (0);
	if (rundir_path(sock, sizeof(sock), AGENT_SOCK, prompt) == -1)
		return (0);
	if ((fd = agent_connect(sock)) != -1) {
		agent_write(fd, msg, len, mono_ms() + HOOK_AGENT_MS);
		close(fd);
		return (0);
	}
	if (prompt && self_path(self, sizeof(self), prog) == 0)
		hook_spawn(self, msg, len);
	return (0);
}
