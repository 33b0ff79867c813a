/*
 * devroulette init [URL] and devroulette uninstall: our two hooks in
 * Claude Code's settings.json, added or removed with everything else left
 * as it was.  Before any change the old file is copied to a timestamped
 * backup next to it; the new one is written to a temporary file, fsynced
 * and renamed over the old, with the old mode.  init also records the
 * server URL and makes the match-key salt.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

#ifndef DEFAULT_URL
#define DEFAULT_URL	"ws://127.0.0.1:8787"
#endif

#define SETTINGS_MAX	(4 * 1024 * 1024)

struct settings_file {
	char		 sf_path[PATH_MAX];	/* as named, for messages */
	char		 sf_real[PATH_MAX];	/* through a symbolic link */
	int		 sf_exists;
	mode_t		 sf_mode;
	char		*sf_text;
	size_t		 sf_len;
};

static int	init_exec(int, char **, const char *);
static int	uninstall_exec(int, char **, const char *);
static int	settings_load(struct settings_file *);
static int	settings_backup(const struct settings_file *, char *, size_t);
static int	settings_store(struct settings_file *, const char *, size_t);
static int	settings_change(int, const char *);

const struct client_cmd cmd_init_entry = {
	.cc_name = "init",
	.cc_usage = "init [URL]",
	.cc_argmax = 1,
	.cc_exec = init_exec,
};

const struct client_cmd cmd_uninstall_entry = {
	.cc_name = "uninstall",
	.cc_usage = "uninstall",
	.cc_argmax = 0,
	.cc_exec = uninstall_exec,
};

/* $CLAUDE_CONFIG_DIR/settings.json, else ~/.claude/settings.json. */
int
settings_path(char *buf, size_t len)
{
	const char	*dir, *home;
	int		 n;

	if ((dir = getenv("CLAUDE_CONFIG_DIR")) != NULL && dir[0] == '/')
		n = snprintf(buf, len, "%s/settings.json", dir);
	else if ((home = getenv("HOME")) != NULL && home[0] == '/')
		n = snprintf(buf, len, "%s/.claude/settings.json", home);
	else
		return (-1);
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

/* The file's text, or none if it does not exist.  Messages on stderr. */
static int
settings_load(struct settings_file *sf)
{
	struct stat	 st;
	ssize_t		 n;
	int		 fd;

	memset(sf, 0, sizeof(*sf));
	if (settings_path(sf->sf_path, sizeof(sf->sf_path)) == -1) {
		fprintf(stderr, "devroulette: HOME is not set: cannot find "
		    "Claude Code's settings\n");
		return (-1);
	}
	strlcpy(sf->sf_real, sf->sf_path, sizeof(sf->sf_real));
	if (lstat(sf->sf_path, &st) == 0 && S_ISLNK(st.st_mode) &&
	    realpath(sf->sf_path, sf->sf_real) == NULL) {
		fprintf(stderr, "devroulette: %s: a link to nowhere (%s)\n",
		    sf->sf_path, strerror(errno));
		return (-1);
	}
	if ((fd = open(sf->sf_real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) ==
	    -1) {
		if (errno == ENOENT) {
			sf->sf_mode = 0600;
			sf->sf_text = xstrdup("");
			return (0);
		}
		fprintf(stderr, "devroulette: %s: %s\n", sf->sf_path,
		    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > SETTINGS_MAX) {
		fprintf(stderr, "devroulette: %s: not a regular file of at "
		    "most %d bytes\n", sf->sf_path, SETTINGS_MAX);
		close(fd);
		return (-1);
	}
	sf->sf_exists = 1;
	sf->sf_mode = st.st_mode & 07777;
	sf->sf_text = xmalloc(st.st_size + 1);
	while (sf->sf_len < (size_t)st.st_size) {
		n = read(fd, sf->sf_text + sf->sf_len, st.st_size - sf->sf_len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "devroulette: %s: %s\n", sf->sf_path,
			    n == 0 ? "changed while being read" :
			    strerror(errno));
			close(fd);
			return (-1);
		}
		sf->sf_len += n;
	}
	sf->sf_text[sf->sf_len] = '\0';
	close(fd);
	return (0);
}

/* settings.json.devroulette-YYYYmmdd-HHMMSS[-N].bak, the old bytes. */
static int
settings_backup(const struct settings_file *sf, char *out, size_t outlen)
{
	char		 stamp[32];
	time_t		 now = time(NULL);
	struct tm	*tm = localtime(&now);
	size_t		 done;
	ssize_t		 n;
	int		 fd = -1, i;

	if (tm == NULL || strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S",
	    tm) == 0)
		strlcpy(stamp, "now", sizeof(stamp));
	for (i = 1; i < 100 && fd == -1; i++) {
		if (i == 1)
			snprintf(out, outlen, "%s.devroulette-%s.bak",
			    sf->sf_real, stamp);
		else
			snprintf(out, outlen, "%s.devroulette-%s-%d.bak",
			    sf->sf_real, stamp, i);
		fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    sf->sf_mode & 0777);
		if (fd == -1 && errno != EEXIST)
			break;
	}
	if (fd == -1)
		return (-1);
	for (done = 0; done < sf->sf_len; done += n)
		if ((n = write(fd, sf->sf_text + done, sf->sf_len - done)) ==
		    -1) {
			close(fd);
			return (-1);
		}
	if (fchmod(fd, sf->sf_mode & 0777) == -1 || fsync(fd) == -1) {
		close(fd);
		return (-1);
	}
	return (close(fd));
}

static int
settings_store(struct settings_file *sf, const char *text, size_t len)
{
	char	dir[PATH_MAX], *slash;
	int	fd;

	strlcpy(dir, sf->sf_real, sizeof(dir));
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	if (!sf->sf_exists && dir[0] != '\0' && mkdir_p(dir, 0700) == -1)
		return (-1);
	if (file_replace(sf->sf_real, text, len, sf->sf_mode) == -1)
		return (-1);
	/* The rename itself, on disk. */
	if (dir[0] != '\0' && (fd = open(dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) != -1) {
		fsync(fd);
		close(fd);
	}
	return (0);
}

/* Add (install) or remove our hooks.  0 done, -1 refused. */
static int
settings_change(int install, const char *prog)
{
	struct settings_file	 sf;
	char			 self[PATH_MAX], pcmd[PATH_MAX + 64];
	char			 scmd[PATH_MAX + 64], err[256];
	char			 backup[PATH_MAX + 64], *text;
	size_t			 len;
	int			 r;

	if (self_path(self, sizeof(self), prog) == -1 ||
	    hook_command(pcmd, sizeof(pcmd), self, "prompt") == -1 ||
	    hook_command(scmd, sizeof(scmd), self, "stop") == -1) {
		fprintf(stderr, "devroulette: cannot tell where this program "
		    "is installed\n");
		return (-1);
	}
	if (settings_load(&sf) == -1)
		return (-1);
	r = settings_edit(sf.sf_text, sf.sf_len, install, pcmd, scmd, &text,
	    &len, err, sizeof(err));
	if (r == -1) {
		fprintf(stderr, "devroulette: %s is not valid JSON settings "
		    "(%s).\nIt was left untouched: fix it (or move it away) "
		    "and run devroulette %s again.\n", sf.sf_path, err,
		    install ? "init" : "uninstall");
		free(sf.sf_text);
		return (-1);
	}
	if (r == 0) {
		printf("%s: %s\n", sf.sf_path, install ?
		    "the devroulette hooks are already there" :
		    "no devroulette hooks to remove");
		free(sf.sf_text);
		return (0);
	}
	backup[0] = '\0';
	if (sf.sf_exists && settings_backup(&sf, backup, sizeof(backup)) ==
	    -1) {
		fprintf(stderr, "devroulette: cannot back up %s (%s); nothing "
		    "was changed\n", sf.sf_path, strerror(errno));
		goto fail;
	}
	if (settings_store(&sf, text, len) == -1) {
		fprintf(stderr, "devroulette: cannot write %s: %s\n",
		    sf.sf_path, strerror(errno));
		goto fail;
	}
	printf("%s: %s the devroulette hooks (UserPromptSubmit, Stop)\n",
	    sf.sf_path, install ? "added" : "removed");
	if (backup[0] != '\0')
		printf("backup of the previous file: %s\n", backup);
	free(text);
	free(sf.sf_text);
	return (0);
fail:
	free(text);
	free(sf.sf_text);
	return (-1);
}

static int
init_exec(int argc, char **argv, const char *prog)
{
	struct url	 u;
	const char	*url, *env, *err;
	uint8_t		 salt[SALT_LEN];

	if (argc > 1)
		url = argv[1];
	else if ((env = getenv("DEVROULETTE_URL")) != NULL && *env != '\0')
		url = env;
	else
		url = DEFAULT_URL;
	if (url_parse(url, &u, &err) == -1) {
		fprintf(stderr, "devroulette: %s: %s\n", url, err);
		return (1);
	}
	if (!u.u_tls && !url_host_loopback(u.u_host)) {
		fprintf(stderr, "devroulette: %s: ws:// is not encrypted and "
		    "only allowed to this machine; use wss://\n", url);
		return (1);
	}
	if (!terms_accepted()) {
		if (!isatty(STDIN_FILENO)) {
			fprintf(stderr, "devroulette: the terms have not been "
			    "accepted yet: run devroulette init in a "
			    "terminal\n");
			return (1);
		}
		if (!terms_ask())
			return (1);
	}
	if (settings_change(1, prog) == -1)
		return (1);
	if (config_url_save(url) == -1 || config_salt(salt, sizeof(salt),
	    1) == -1) {
		fprintf(stderr, "devroulette: cannot write the configuration: "
		    "%s\n", strerror(errno));
		return (1);
	}
	explicit_bzero(salt, sizeof(salt));
	printf("server: %s\n"
	    "Claude Code tasks that run longer than 30 seconds now look for "
	    "another\nwaiting developer; a chat window opens only when one "
	    "is found.\n", url);
	return (0);
}

static int
uninstall_exec(int argc, char **argv, const char *prog)
{
	return (settings_change(0, prog) == -1 ? 1 : 0);
}
