/*
 * devroulettectl: ask a running devrouletted for its numbers over the
 * control socket.  One request, then answers until an END message.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devrouletted.h"

#define CTL_WAIT_MS	5000

enum ctl_action {
	ACT_STATS,
	ACT_LOG_VERBOSE,
	ACT_LOG_BRIEF,
	ACT_BANS
};

struct ctl_token {
	const char	*t_words[2];
	int		 t_action;
	uint32_t	 t_type;
};

static const struct ctl_token tokens[] = {
	{ { "stats", NULL }, ACT_STATS, IMSG_CTL_STATS },
	{ { "log", "verbose" }, ACT_LOG_VERBOSE, IMSG_CTL_LOG_VERBOSE },
	{ { "log", "brief" }, ACT_LOG_BRIEF, IMSG_CTL_LOG_BRIEF },
	{ { "bans", NULL }, ACT_BANS, IMSG_CTL_BANS },
};
#define NTOKENS	(sizeof(tokens) / sizeof(tokens[0]))

static int	 jflag;

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: devroulettectl [-j] [-s socket] command\n"
	    "commands: stats, log verbose, log brief, bans\n");
	exit(1);
}

/* Unambiguous prefixes, relayctl style: "st" is stats, "log v" verbose. */
static const struct ctl_token *
ctl_lookup(int argc, char *argv[])
{
	const struct ctl_token	*found = NULL;
	size_t			 i;
	int			 w, n;

	for (i = 0; i < NTOKENS; i++) {
		n = tokens[i].t_words[1] == NULL ? 1 : 2;
		if (argc != n)
			continue;
		for (w = 0; w < n; w++)
			if (argv[w][0] == '\0' || strncmp(argv[w],
			    tokens[i].t_words[w], strlen(argv[w])) != 0)
				break;
		if (w < n)
			continue;
		if (found != NULL && found->t_action != tokens[i].t_action)
			errx(1, "ambiguous command; valid commands: stats, "
			    "log verbose, log brief, bans");
		found = &tokens[i];
	}
	if (found == NULL)
		errx(1, "unknown command; valid commands: stats, "
		    "log verbose, log brief, bans");
	return (found);
}

static int
ctl_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		errx(1, "%s: path too long", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		err(1, "socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			errx(1, "%s: devrouletted is not running (%s)", path,
			    strerror(errno));
		if (errno == EACCES || errno == EPERM)
			errx(1, "%s: permission denied (root or the "
			    "_devroulette group may connect)", path);
		err(1, "connect %s", path);
	}
	return (fd);
}

/* Read one whole message, or die saying why. */
static void
ctl_read(int fd, struct ipc_hdr *hdr, uint8_t *buf, size_t *have)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	ssize_t		 n;
	int		 r;

	for (;;) {
		r = ipc_decode(buf, *have, hdr);
		if (r == -1)
			errx(1, "malformed answer from devrouletted");
		if (r == 1)
			return;
		if (poll(&pfd, 1, CTL_WAIT_MS) <= 0)
			errx(1, "no answer from devrouletted");
		n = read(fd, buf + *have, IPC_HDR_SIZE + IPC_MAX_PAYLOAD -
		    *have);
		if (n == -1)
			err(1, "read");
		if (n == 0)
			errx(1, "devrouletted closed the connection");
		*have += (size_t)n;
	}
}

static void
print_stats(const struct ctl_stats *s)
{
	const struct counters	*c = &s->cs_counters;
	unsigned long long	 up = s->cs_uptime;

	if (jflag) {
		printf("{\"uptime\":%llu,\"sockets\":%llu,"
		    "\"max_sockets\":%llu,\"waiting\":%llu,\"rooms\":%llu,"
		    "\"bans\":%llu,\"connections\":%llu,\"convos\":%llu,"
		    "\"messages\":%llu,\"reports\":%llu}\n", up,
		    (unsigned long long)s->cs_open,
		    (unsigned long long)s->cs_max_sockets,
		    (unsigned long long)s->cs_waiting,
		    (unsigned long long)s->cs_rooms,
		    (unsigned long long)s->cs_bans,
		    (unsigned long long)c->c_connections,
		    (unsigned long long)c->c_convos,
		    (unsigned long long)c->c_messages,
		    (unsigned long long)c->c_reports);
		return;
	}
	printf("%-12s %llud%02lluh%02llum%02llus\n", "uptime", up / 86400,
	    up / 3600 % 24, up / 60 % 60, up % 60);
	printf("%-12s %llu / %llu\n", "sockets",
	    (unsigned long long)s->cs_open,
	    (unsigned long long)s->cs_max_sockets);
	printf("%-12s %llu\n", "waiting", (unsigned long long)s->cs_waiting);
	printf("%-12s %llu\n", "rooms", (unsigned long long)s->cs_rooms);
	printf("%-12s %llu\n", "bans", (unsigned long long)s->cs_bans);
	printf("%-12s %llu\n", "connections",
	    (unsigned long long)c->c_connections);
	printf("%-12s %llu\n", "convos", (unsigned long long)c->c_convos);
	printf("%-12s %llu\n", "messages", (unsigned long long)c->c_messages);
	printf("%-12s %llu\n", "reports", (unsigned long long)c->c_reports);
}

static int
ctl_answer(const struct ipc_hdr *hdr, const uint8_t *data, int *nbans)
{
	struct ctl_stats	 st;
	struct ctl_ban		 b;
	uint32_t		 v;

	switch (hdr->ih_type) {
	case IMSG_CTL_STATS_REPLY:
		if (hdr->ih_len != sizeof(st))
			errx(1, "version mismatch: devrouletted's answer has "
			    "another size (upgrade devroulettectl)");
		memcpy(&st, data, sizeof(st));
		print_stats(&st);
		return (0);
	case IMSG_CTL_BAN:
		if (hdr->ih_len != sizeof(b))
			errx(1, "malformed answer from devrouletted");
		memcpy(&b, data, sizeof(b));
		if (jflag)
			printf("%s%llu", (*nbans)++ ? "," : "[",
			    (unsigned long long)b.cb_remaining_ms / 1000);
		else
			printf("%s%llus", (*nbans)++ ? " " : "",
			    (unsigned long long)b.cb_remaining_ms / 1000);
		return (0);
	case IMSG_CTL_OK:
		if (!jflag)
			printf("ok\n");
		return (0);
	case IMSG_CTL_END:
		return (1);
	case IMSG_CTL_ERROR:
		if (hdr->ih_len < sizeof(v))
			errx(1, "malformed answer from devrouletted");
		memcpy(&v, data, sizeof(v));
		if (v != CTL_VERSION)
			errx(1, "version mismatch: devrouletted speaks "
			    "control version %u, devroulettectl %u", v,
			    CTL_VERSION);
		errx(1, "devrouletted refused the request: %.*s",
		    (int)(hdr->ih_len - sizeof(v)), data + sizeof(v));
	default:
		errx(1, "version mismatch: unknown answer %u from "
		    "devrouletted", hdr->ih_type);
	}
}

int
main(int argc, char *argv[])
{
	const struct ctl_token	*t;
	const char		*path;
	struct ctl_req		 req = { CTL_VERSION };
	struct ipc_hdr		 hdr;
	uint8_t			 out[IPC_HDR_SIZE + sizeof(req)];
	uint8_t			*buf;
	size_t			 have = 0, used;
	int			 ch, fd, nbans = 0;

	if ((path = getenv("CONTROL_SOCKET")) == NULL)
		path = "/run/devrouletted.sock";
	while ((ch = getopt(argc, argv, "js:")) != -1) {
		switch (ch) {
		case 'j':
			jflag = 1;
			break;
		case 's':
			path = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	t = ctl_lookup(argc, argv);

	fd = ctl_connect(path);
	ipc_encode_hdr(out, t->t_type, sizeof(req), 0);
	memcpy(out + IPC_HDR_SIZE, &req, sizeof(req));
	if (write(fd, out, sizeof(out)) != (ssize_t)sizeof(out))
		err(1, "write");
	buf = malloc(IPC_HDR_SIZE + IPC_MAX_PAYLOAD);
	if (buf == NULL)
		err(1, NULL);
	for (;;) {
		ctl_read(fd, &hdr, buf, &have);
		if (ctl_answer(&hdr, buf + IPC_HDR_SIZE, &nbans))
			break;
		used = IPC_HDR_SIZE + hdr.ih_len;
		memmove(buf, buf + used, have - used);
		have -= used;
	}
	if (t->t_action == ACT_BANS) {
		if (jflag)
			printf("%s]\n", nbans ? "" : "[");
		else
			printf("%s%d active ban%s\n", nbans ? "\n" : "",
			    nbans, nbans == 1 ? "" : "s");
	}
	free(buf);
	close(fd);
	return (0);
}
