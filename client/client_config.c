/*
 * The first-run notice: 18+ and the terms, accepted once, in one file in
 * $XDG_CONFIG_HOME/devroulette/ (by default ~/.config/devroulette/).  Only
 * init writes anything else (client_setup.c, client_init.c).
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define TERMS_FILE	"accepted"
#define TERMS_LINE	"terms " TERMS_VERSION "\n"

const char *terms_text =
"devroulette connects you with a random developer for a text chat.\n"
"\n"
"  * You must be 18 or older to use it.\n"
"  * Be kind. No harassment, hate, sexual content or spam.\n"
"  * Your partner is a stranger: do not share secrets, keys, passwords,\n"
"    code you may not share, or anything that identifies you.\n"
"  * /report flags an abusive partner and moves you on.\n"
"\n"
"Privacy: the server relays your messages to your partner and keeps\n"
"only aggregate counters (connections, chats, messages, reports); no\n"
"text, name, key or address is written to disk or to a log.  This\n"
"program writes only this acceptance to your configuration directory\n"
"(and, with init, the server's address, a random salt and its Claude\n"
"Code hooks), and talks only to the server you give it.\n";

/* $XDG_CONFIG_HOME/devroulette, or ~/.config/devroulette. */
int
config_dir(char *out, size_t len)
{
	const char	*xdg, *home;
	int		 n;

	xdg = getenv("XDG_CONFIG_HOME");
	home = getenv("HOME");
	/* The XDG spec says to ignore a relative path. */
	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, len, "%s/devroulette", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(out, len, "%s/.config/devroulette", home);
	else
		return (-1);
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

int
terms_accepted(void)
{
	char	dir[1024], path[1100], buf[64];
	ssize_t	n;
	int	fd;

	if (config_dir(dir, sizeof(dir)) == -1)
		return (0);
	snprintf(path, sizeof(path), "%s/" TERMS_FILE, dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return (0);
	buf[n] = '\0';
	return (strcmp(buf, TERMS_LINE) == 0);
}

/* mkdir -p, 0700: the directory is the user's alone. */
static int
config_mkdir(char *dir)
{
	char	*p;

	for (p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) == -1 && errno != EEXIST)
			return (-1);
		*p = '/';
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return (-1);
	return (0);
}

static int
terms_save(void)
{
	char	dir[1024], path[1100], tmp[1100];
	int	fd, ok;

	if (config_dir(dir, sizeof(dir)) == -1) {
		fprintf(stderr, "devroulette: neither XDG_CONFIG_HOME nor "
		    "HOME is set: cannot remember the answer\n");
		return (-1);
	}
	snprintf(path, sizeof(path), "%s/" TERMS_FILE, dir);
	snprintf(tmp, sizeof(tmp), "%s/" TERMS_FILE ".tmp", dir);
	if (config_mkdir(dir) == -1 || (fd = open(tmp, O_WRONLY | O_CREAT |
	    O_TRUNC | O_CLOEXEC, 0600)) == -1) {
		fprintf(stderr, "devroulette: %s: %s\n", dir, strerror(errno));
		return (-1);
	}
	ok = write(fd, TERMS_LINE, strlen(TERMS_LINE)) ==
	    (ssize_t)strlen(TERMS_LINE);
	if (close(fd) == -1 || !ok || rename(tmp, path) == -1) {
		fprintf(stderr, "devroulette: %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return (-1);
	}
	return (0);
}

/* 1: accepted (and remembered); 0: not. */
int
terms_ask(void)
{
	char	line[64];

	printf("%s\nDo you accept these terms and confirm you are 18 or "
	    "older? Type yes to go on: ", terms_text);
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return (0);
	line[strcspn(line, "\r\n")] = '\0';
	if (strcasecmp(line, "yes") != 0 && strcasecmp(line, "y") != 0) {
		printf("Not accepted: devroulette will not start.\n");
		return (0);
	}
	if (terms_save() == -1)
		return (0);
	return (1);
}
