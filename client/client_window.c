/*
 * Showing the chat window where the user is.  The ways, in order:
 * $DEVROULETTE_TERMINAL (a shell command template: "{}" is replaced by
 * the command to run, shell-quoted, else it is appended); inside tmux a
 * split of the pane Claude Code runs in, else a new tmux window; on macOS
 * iTerm (when that is the terminal) or Terminal through osascript; with a
 * display, $TERMINAL, x-terminal-emulator, then the common emulators.  A
 * way is only tried if it can work here (its program is on PATH, the
 * variables it needs are set); if it fails, the next one is.  The
 * environment is the task's: the window opens in the tmux or on the
 * display of the Claude Code that started the task.
 */

#include <sys/types.h>

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

/* What a hook passes on: where a window can be shown. */
const char *const window_env[] = {
	"DEVROULETTE_TERMINAL",
	"TERMINAL",
	"TMUX",
	"TMUX_PANE",
	"DISPLAY",
	"WAYLAND_DISPLAY",
	"TERM_PROGRAM",
	NULL
};

enum window_kind {
	W_TEMPLATE,	/* $DEVROULETTE_TERMINAL */
	W_TMUX_SPLIT,
	W_TMUX_WINDOW,
	W_ITERM,
	W_TERMINAL_APP,
	W_ENV_TERMINAL,	/* $TERMINAL -e */
	W_EMULATOR	/* ww_prog ww_args... command */
};

struct window_way {
	enum window_kind	 ww_kind;
	const char		*ww_prog;
	const char		*ww_args[3];
};

static const struct window_way window_ways[] = {
	{ W_TEMPLATE,		"/bin/sh",		{ NULL } },
	{ W_TMUX_SPLIT,		"tmux",			{ NULL } },
	{ W_TMUX_WINDOW,	"tmux",			{ NULL } },
	{ W_ITERM,		"osascript",		{ NULL } },
	{ W_TERMINAL_APP,	"osascript",		{ NULL } },
	{ W_ENV_TERMINAL,	NULL,			{ "-e", NULL } },
	{ W_EMULATOR,		"x-terminal-emulator",	{ "-e", NULL } },
	{ W_EMULATOR,		"gnome-terminal",	{ "--", NULL } },
	{ W_EMULATOR,		"konsole",		{ "-e", NULL } },
	{ W_EMULATOR,		"kitty",		{ NULL } },
	{ W_EMULATOR,		"alacritty",		{ "-e", NULL } },
	{ W_EMULATOR,		"wezterm",		{ "start", "--", NULL } },
	{ W_EMULATOR,		"foot",			{ NULL } },
	{ W_EMULATOR,		"xterm",		{ "-e", NULL } },
};
#define WINDOW_NWAYS	(sizeof(window_ways) / sizeof(window_ways[0]))

#define WINDOW_ARGV_MAX	24

static int	window_on_path(const char *);
static int	window_possible(const struct window_way *,
		    const struct task *);
static size_t	window_quote(char *, size_t, char *const *, int);
static int	window_argv(const struct window_way *, const struct task *,
		    char *const *, char **, char *, size_t);
static pid_t	window_spawn(const struct task *, char **);

static int
window_on_path(const char *prog)
{
	char		 path[PATH_MAX];
	const char	*dirs, *p, *e;

	if (prog == NULL || *prog == '\0')
		return (0);
	if (strchr(prog, '/') != NULL)
		return (access(prog, X_OK) == 0);
	if ((dirs = getenv("PATH")) == NULL)
		dirs = "/usr/bin:/bin";
	for (p = dirs; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, ":");
		if (e > p && snprintf(path, sizeof(path), "%.*s/%s",
		    (int)(e - p), p, prog) < (int)sizeof(path) &&
		    access(path, X_OK) == 0)
			return (1);
	}
	return (0);
}

static int
window_possible(const struct window_way *ww, const struct task *t)
{
	const char	*v, *display;
	int		 darwin = 0;

#ifdef __APPLE__
	darwin = 1;
#endif
	display = task_getenv(t, "DISPLAY");
	if (display == NULL || *display == '\0')
		display = task_getenv(t, "WAYLAND_DISPLAY");
	switch (ww->ww_kind) {
	case W_TEMPLATE:
		v = task_getenv(t, "DEVROULETTE_TERMINAL");
		return (v != NULL && *v != '\0');
	case W_TMUX_SPLIT:
	case W_TMUX_WINDOW:
		v = task_getenv(t, "TMUX");
		return (v != NULL && *v != '\0' && window_on_path("tmux"));
	case W_ITERM:
		v = task_getenv(t, "TERM_PROGRAM");
		return (darwin && v != NULL && strcmp(v, "iTerm.app") == 0 &&
		    window_on_path("osascript"));
	case W_TERMINAL_APP:
		return (darwin && window_on_path("osascript"));
	case W_ENV_TERMINAL:
		v = task_getenv(t, "TERMINAL");
		return (!darwin && display != NULL && *display != '\0' &&
		    v != NULL && window_on_path(v));
	case W_EMULATOR:
		return (!darwin && display != NULL && *display != '\0' &&
		    window_on_path(ww->ww_prog));
	}
	return (0);
}

/* Whether any way to show a window exists for this task. */
int
window_can_show(const struct task *t)
{
	size_t	i;

	for (i = 0; i < WINDOW_NWAYS; i++)
		if (window_possible(&window_ways[i], t))
			return (1);
	return (0);
}

/*
 * The command as one string: words in single quotes for a shell, or
 * (applescript) also escaped for an AppleScript string.
 */
static size_t
window_quote(char *buf, size_t len, char *const *cmd, int applescript)
{
	size_t		 n = 0;
	const char	*p;
	int		 i;

	for (i = 0; cmd[i] != NULL; i++) {
		if (i > 0 && n < len)
			buf[n++] = ' ';
		if (n < len)
			buf[n++] = '\'';
		for (p = cmd[i]; *p != '\0'; p++) {
			if (*p == '\'') {
				if (n + 4 < len)
					memcpy(buf + n, "'\\''", 4);
				n += 4;
				continue;
			}
			if (applescript && (*p == '"' || *p == '\\') &&
			    n < len)
				buf[n++] = '\\';
			if (n < len)
				buf[n++] = *p;
		}
		if (n < len)
			buf[n++] = '\'';
	}
	if (n >= len)
		return (0);
	buf[n] = '\0';
	return (n);
}

/* argv for one way; the strings it needs are kept in buf. */
static int
window_argv(const struct window_way *ww, const struct task *t,
    char *const *cmd, char **argv, char *buf, size_t len)
{
	char		 q[PATH_MAX * 2], sock[PATH_MAX];
	const char	*tmpl, *tmux, *pane, *mark;
	size_t		 n = 0, i;
	int		 r;

	switch (ww->ww_kind) {
	case W_TEMPLATE:
		tmpl = task_getenv(t, "DEVROULETTE_TERMINAL");
		if (window_quote(q, sizeof(q), cmd, 0) == 0)
			return (-1);
		if ((mark = strstr(tmpl, "{}")) != NULL)
			r = snprintf(buf, len, "%.*s%s%s", (int)(mark - tmpl),
			    tmpl, q, mark + 2);
		else
			r = snprintf(buf, len, "%s %s", tmpl, q);
		if (r < 0 || (size_t)r >= len)
			return (-1);
		argv[n++] = (char *)"/bin/sh";
		argv[n++] = (char *)"-c";
		argv[n++] = buf;
		break;
	case W_TMUX_SPLIT:
	case W_TMUX_WINDOW:
		/* $TMUX is "socket,pid,session": the socket is the server. */
		tmux = task_getenv(t, "TMUX");
		if (strlcpy(sock, tmux, sizeof(sock)) >= sizeof(sock))
			return (-1);
		sock[strcspn(sock, ",")] = '\0';
		if (strlcpy(buf, sock, len) >= len)
			return (-1);
		argv[n++] = (char *)"tmux";
		argv[n++] = (char *)"-S";
		argv[n++] = buf;
		if (ww->ww_kind == W_TMUX_SPLIT) {
			argv[n++] = (char *)"split-window";
			argv[n++] = (char *)"-v";
			argv[n++] = (char *)"-l";
			argv[n++] = (char *)"40%";
			if ((pane = task_getenv(t, "TMUX_PANE")) != NULL &&
			    *pane != '\0') {
				argv[n++] = (char *)"-t";
				argv[n++] = (char *)pane;
			}
		} else {
			argv[n++] = (char *)"new-window";
			argv[n++] = (char *)"-n";
			argv[n++] = (char *)"devroulette";
		}
		for (i = 0; cmd[i] != NULL && n < WINDOW_ARGV_MAX - 1; i++)
			argv[n++] = cmd[i];
		break;
	case W_ITERM:
	case W_TERMINAL_APP:
		if (window_quote(q, sizeof(q), cmd, 1) == 0)
			return (-1);
		if (ww->ww_kind == W_ITERM)
			r = snprintf(buf, len, "tell application \"iTerm\" to "
			    "create window with default profile command "
			    "\"%s\"", q);
		else
			r = snprintf(buf, len, "tell application \"Terminal\"\n"
			    "do script \"%s\"\nactivate\nend tell", q);
		if (r < 0 || (size_t)r >= len)
			return (-1);
		argv[n++] = (char *)"osascript";
		argv[n++] = (char *)"-e";
		argv[n++] = buf;
		break;
	case W_ENV_TERMINAL:
	case W_EMULATOR:
		argv[n++] = (char *)(ww->ww_kind == W_ENV_TERMINAL ?
		    task_getenv(t, "TERMINAL") : ww->ww_prog);
		for (i = 0; ww->ww_args[i] != NULL; i++)
			argv[n++] = (char *)ww->ww_args[i];
		for (i = 0; cmd[i] != NULL && n < WINDOW_ARGV_MAX - 1; i++)
			argv[n++] = cmd[i];
		break;
	}
	argv[n] = NULL;
	return (0);
}

/* The launcher, detached, in the task's environment. */
static pid_t
window_spawn(const struct task *t, char **argv)
{
	const char	*v;
	pid_t		 pid;
	size_t		 i;
	int		 fd;

	if ((pid = fork()) != 0)
		return (pid);
	setsid();
	signal(SIGPIPE, SIG_DFL);
	for (i = 0; window_env[i] != NULL; i++) {
		if ((v = task_getenv(t, window_env[i])) != NULL)
			setenv(window_env[i], v, 1);
		else
			unsetenv(window_env[i]);
	}
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	closefrom(STDERR_FILENO + 1);
	execvp(argv[0], argv);
	_exit(127);
}

/*
 * Start the next way that can work, from w->w_next on.  0: a launcher
 * runs (w_pid); -1: no way is left.
 */
int
window_open(struct window *w, const struct task *t, char *const *cmd)
{
	char	*argv[WINDOW_ARGV_MAX], buf[PATH_MAX * 3];
	pid_t	 pid;

	for (; w->w_next < WINDOW_NWAYS; w->w_next++) {
		const struct window_way *ww = &window_ways[w->w_next];

		if (!window_possible(ww, t) || window_argv(ww, t, cmd, argv,
		    buf, sizeof(buf)) == -1)
			continue;
		if ((pid = window_spawn(t, argv)) == -1)
			continue;
		log_debug("%s: way %zu (%s)", __func__, w->w_next,
		    argv[0]);
		w->w_pid = pid;
		w->w_next++;
		return (0);
	}
	w->w_pid = 0;
	return (-1);
}
