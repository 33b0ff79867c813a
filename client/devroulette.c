/*
 * devroulette(1): chat with a random developer while your AI works.
 *
 *	devroulette [--insecure] [--debug] start [URL]
 *	devroulette init [URL] | uninstall | status
 *	devroulette hook prompt | stop		(run by Claude Code)
 *	devroulette agent [-d] | chat --attach [SOCKET]	(run by devroulette)
 */

#include <sys/types.h>

#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include <openssl/ssl.h>

#include "client.h"

#ifndef DEFAULT_URL
#define DEFAULT_URL	"ws://127.0.0.1:8787"
#endif

static const struct client_cmd *const commands[] = {
	&cmd_init_entry,
	&cmd_uninstall_entry,
	&cmd_status_entry,
	&cmd_agent_entry,
	&cmd_chat_entry,
};

__attribute__((__noreturn__)) static void	usage(int);
static const struct client_cmd *find_command(const char *);
static const char	*pick_url(int, char **);
static void		 run(const struct url *, struct ssl_ctx_st *, int, int);
static void		 run_line(void *, const uint8_t *, size_t);
static void		 run_quit(void *);
static void		 run_hangup(void *);

static void
usage(int status)
{
	FILE	*f = status == 0 ? stdout : stderr;

	fprintf(f, "usage: devroulette [-hV] [--insecure] [--debug] "
	    "start [URL]\n"
	    "       devroulette init [URL] | uninstall | status\n");
	if (status == 0)
		fprintf(f, "\n"
		    "Chat with a random developer while your AI works.\n"
		    "\n"
		    "  start [URL]  connect and chat (URL: ws:// or wss://;\n"
		    "               default $DEVROULETTE_URL, else %s)\n"
		    "  init [URL]   add the hooks to Claude Code: long tasks "
		    "look for a\n"
		    "               partner, a window opens when one is found\n"
		    "  uninstall    remove the hooks\n"
		    "  status       hooks, server, and what the agent is doing\n"
		    "  --insecure   allow ws:// to a host other than this one\n"
		    "  --debug      join the debug queue (needs "
		    "DEVROULETTE_DEV=1)\n"
		    "  -h, --help   this help\n"
		    "  -V, --version\n"
		    "\n"
		    "In the chat: /skip /report /insights /quit /help.\n"
		    "See devroulette(1).\n", DEFAULT_URL);
	exit(status);
}

static const struct client_cmd *
find_command(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i]->cc_name, name) == 0)
			return (commands[i]);
	return (NULL);
}

static const char *
pick_url(int argc, char **argv)
{
	const char	*env;

	if (argc > 1)
		return (argv[1]);
	if ((env = getenv("DEVROULETTE_URL")) != NULL && *env != '\0')
		return (env);
	return (DEFAULT_URL);
}

static void
run_line(void *arg, const uint8_t *text, size_t len)
{
	cmd_line(arg, text, len);
}

static void
run_quit(void *arg)
{
	session_quit(arg);
}

static void
run_hangup(void *arg)
{
	session_hangup(arg);
}

static void
run(const struct url *u, SSL_CTX *ctx, int insecure, int debug)
{
	struct event_base	*base;
	struct evdns_base	*dns;
	struct session		 s;
	struct ui_ops		 ops = { run_line, run_quit, run_hangup, &s };

	if ((base = event_base_new()) == NULL)
		fatalx("cannot start the event loop");
	/* Without resolv.conf, numeric hosts still work. */
	if ((dns = evdns_base_new(base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL &&
	    (dns = evdns_base_new(base, 0)) == NULL)
		fatalx("cannot start the resolver");

	session_init(&s, base, dns, ctx, u, insecure, debug);
	ui_start(base, &ops);
	ui_addf(LINE_SYSTEM, "devroulette %s: type /help for commands, "
	    "Ctrl-C to leave.", CLIENT_VERSION);
	session_start(&s);
	event_base_dispatch(base);
	ui_stop();

	session_free(&s);
	/* One more turn: connections freed in callbacks are reaped then. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	evdns_base_free(dns, 0);
	event_base_free(base);
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	if (s.s_fatal[0] != '\0')
		fprintf(stderr, "devroulette: %s\n", s.s_fatal);
	exit(s.s_exit);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "debug",	no_argument,	NULL,	'D' },
		{ "help",	no_argument,	NULL,	'h' },
		{ "insecure",	no_argument,	NULL,	'I' },
		{ "version",	no_argument,	NULL,	'V' },
		{ NULL,		0,		NULL,	0 }
	};
	const struct client_cmd	*cc;
	struct url		 u;
	SSL_CTX			*ctx = NULL;
	const char		*s, *err, *prog = argv[0];
	char			 buf[256];
	int			 ch, debug = 0, insecure = 0;

	/* Claude Code waits on this one: nothing else runs first. */
	if (argc >= 2 && strcmp(argv[1], "hook") == 0)
		exit(hook_main(argc - 1, argv + 1, prog));
	setlocale(LC_ALL, "");
	log_init(1, 0);
	/* The other commands take their own arguments. */
	if (argc >= 2 && (cc = find_command(argv[1])) != NULL) {
		if (argc - 2 < cc->cc_argmin || argc - 2 > cc->cc_argmax) {
			fprintf(stderr, "usage: devroulette %s\n",
			    cc->cc_usage);
			exit(1);
		}
		exit(cc->cc_exec(argc - 1, argv + 1, prog));
	}
	while ((ch = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'D':
			debug = 1;
			break;
		case 'h':
			usage(0);
		case 'I':
			insecure = 1;
			break;
		case 'V':
			printf("devroulette %s (protocol %d)\n", CLIENT_VERSION,
			    DR_PROTO_VERSION);
			exit(0);
		default:
			usage(1);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc >= 1 && find_command(argv[0]) != NULL) {
		fprintf(stderr, "devroulette: --debug and --insecure are for "
		    "start only\n");
		exit(1);
	}
	if (argc < 1 || argc > 2 || strcmp(argv[0], "start") != 0)
		usage(1);

	if (debug && ((s = getenv("DEVROULETTE_DEV")) == NULL ||
	    strcmp(s, "1") != 0)) {
		fprintf(stderr, "devroulette: --debug is for testing the "
		    "server and needs DEVROULETTE_DEV=1\n");
		exit(1);
	}
	s = pick_url(argc, argv);
	if (url_parse(s, &u, &err) == -1) {
		fprintf(stderr, "devroulette: %s: %s\n", s, err);
		exit(1);
	}
	if (!u.u_tls && !insecure && !url_host_loopback(u.u_host)) {
		fprintf(stderr, "devroulette: %s: ws:// is not encrypted and "
		    "only allowed to this machine; use wss:// (or --insecure)"
		    "\n", s);
		exit(1);
	}
	if (u.u_tls && (ctx = tls_ctx_new(buf, sizeof(buf))) == NULL) {
		fprintf(stderr, "devroulette: %s\n", buf);
		exit(1);
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "devroulette: needs a terminal\n");
		exit(1);
	}
	if (!terms_accepted() && !terms_ask())
		exit(1);
	signal(SIGPIPE, SIG_IGN);
	run(&u, ctx, insecure, debug);
	return (0);
}
