/*
 * devroulette status: whether the hooks are in Claude Code's settings,
 * which server the agent uses, and whether an agent runs and what it is
 * doing (asked over its socket, answered in lines).
 */

#include <sys/types.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define STATUS_WAIT_MS	2000

static int	status_exec(int, char **, const char *);

const struct client_cmd cmd_status_entry = {
	.cc_name = "status",
	.cc_usage = "status",
	.cc_argmax = 0,
	.cc_exec = status_exec,
};

static int
status_exec(int argc, char **argv, const char *prog)
{
	struct ipc_hdr	 hdr;
	uint8_t		 msg[IPC_HDR_SIZE], *buf;
	char		 path[PATH_MAX], url[1024], *text;
	uint64_t	 deadline;
	size_t		 len;
	int		 fd, r, recorded;

	text = xmalloc(4 * 1024 * 1024 + 1);
	if (settings_path(path, sizeof(path)) == -1)
		printf("hooks: unknown (HOME is not set)\n");
	else if (file_slurp(path, text, 4 * 1024 * 1024 + 1) == -1)
		printf("hooks: not installed (no %s): run devroulette init\n",
		    path);
	else if ((r = settings_installed(text, strlen(text))) == -1)
		printf("hooks: unknown: %s is not valid JSON\n", path);
	else if (r == 0)
		printf("hooks: not installed in %s: run devroulette init\n",
		    path);
	else
		printf("hooks: installed in %s\n", path);
	free(text);

	config_url(url, sizeof(url), &recorded);
	printf("server: %s%s\n", url, recorded ? "" :
	    " (not recorded by init)");
	if (!terms_accepted())
		printf("terms: not accepted yet: run devroulette init\n");

	if (rundir_path(path, sizeof(path), AGENT_SOCK, 0) == -1 ||
	    (fd = agent_connect(path)) == -1) {
		printf("agent: not running (the hooks start it)\n");
		return (0);
	}
	deadline = mono_ms() + STATUS_WAIT_MS;
	len = agent_encode(msg, sizeof(msg), AGENT_STATUS, NULL, 0);
	buf = xmalloc(AGENT_MSG_MAX + 1);
	if (agent_write(fd, msg, len, deadline) == -1) {
		printf("agent: not answering\n");
		goto done;
	}
	for (;;) {
		if (agent_read(fd, &hdr, buf, AGENT_MSG_MAX + 1, deadline) ==
		    -1) {
			printf("agent: not answering\n");
			break;
		}
		if (hdr.ih_type == AGENT_STATUS_END)
			break;
		if (hdr.ih_type != AGENT_STATUS_LINE)
			continue;
		/* Our own agent's words, but a terminal gets no controls. */
		for (len = 0; len < hdr.ih_len; len++)
			if (buf[len] < 0x20 || buf[len] == 0x7f)
				buf[len] = '?';
		printf("%s\n", (char *)buf);
	}
done:
	free(buf);
	close(fd);
	return (0);
}
