/*
 * What init leaves in the configuration directory besides the terms: the
 * server URL the agent uses and the per-install salt of the match keys
 * (both mode 0600, in a directory of mode 0700); where this program lives,
 * for the hook commands and the chat window; and the small file helpers
 * they share.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#ifndef DEFAULT_URL
#define DEFAULT_URL	"ws://127.0.0.1:8787"
#endif

#define URL_FILE	"url"
#define SALT_FILE	"salt"

/* mkdir -p; the directories made get mode. */
int
mkdir_p(const char *path, mode_t mode)
{
	char	buf[PATH_MAX], *p;

	if (strlcpy(buf, path, sizeof(buf)) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) == -1 && errno != EEXIST)
			return (-1);
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST)
		return (-1);
	return (0);
}

/* Write a whole file through a temporary one, fsynced, then renamed. */
int
file_replace(const char *path, const void *data, size_t len, mode_t mode)
{
	char		 tmp[PATH_MAX];
	const char	*p = data;
	ssize_t		 n;
	int		 fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if ((fd = mkstemp(tmp)) == -1)
		return (-1);
	if (fchmod(fd, mode) == -1)
		goto fail;
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		len -= n;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	return (0);
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	errno = saved;
	return (-1);
}

/* A small file into buf, NUL-terminated; -1 if missing or too long. */
int
file_slurp(const char *path, char *buf, size_t len)
{
	ssize_t	n;
	size_t	got = 0;
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return (-1);
	while (got < len - 1) {
		if ((n = read(fd, buf + got, len - 1 - got)) == -1) {
			if (errno == EINTR)
				continue;
			close(fd);
			return (-1);
		}
		if (n == 0)
			break;
		got += n;
	}
	close(fd);
	if (got == len - 1) {
		errno = EFBIG;
		return (-1);
	}
	buf[got] = '\0';
	return (0);
}

int
config_path(char *buf, size_t len, const char *name)
{
	char	dir[PATH_MAX];

	if (config_dir(dir, sizeof(dir)) == -1)
		return (-1);
	return (snprintf(buf, len, "%s/%s", dir, name) >= (int)len ? -1 : 0);
}

int
config_save(const char *name, const void *data, size_t len)
{
	char	dir[PATH_MAX], path[PATH_MAX];

	if (config_dir(dir, sizeof(dir)) == -1 ||
	    config_path(path, sizeof(path), name) == -1) {
		errno = ENOENT;
		return (-1);
	}
	if (mkdir_p(dir, 0700) == -1)
		return (-1);
	return (file_replace(path, data, len, 0600));
}

/* The URL init recorded, else $DEVROULETTE_URL, else the built-in one. */
void
config_url(char *buf, size_t len, int *recorded)
{
	char		 path[PATH_MAX];
	const char	*env;

	*recorded = 0;
	if (config_path(path, sizeof(path), URL_FILE) == 0 &&
	    file_slurp(path, buf, len) == 0) {
		buf[strcspn(buf, "\r\n")] = '\0';
		if (buf[0] != '\0') {
			*recorded = 1;
			return;
		}
	}
	if ((env = getenv("DEVROULETTE_URL")) != NULL && *env != '\0')
		strlcpy(buf, env, len);
	else
		strlcpy(buf, DEFAULT_URL, len);
}

int
config_url_save(const char *url)
{
	char	line[2048];
	int	n;

	n = snprintf(line, sizeof(line), "%s\n", url);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (config_save(URL_FILE, line, n));
}

/*
 * The per-install secret that salts the match keys: 32 random bytes kept
 * as hex.  Made on first use when create is set.
 */
int
config_salt(uint8_t *salt, size_t len, int create)
{
	static const char	 hex[] = "0123456789abcdef";
	char			 path[PATH_MAX], text[2 * SALT_LEN + 16];
	const char		*p;
	size_t			 i;

	if (len != SALT_LEN || config_path(path, sizeof(path), SALT_FILE) ==
	    -1)
		return (-1);
	if (file_slurp(path, text, sizeof(text)) == 0 &&
	    strlen(text) >= 2 * SALT_LEN &&
	    strspn(text, hex) == 2 * SALT_LEN) {
		for (i = 0; i < SALT_LEN; i++) {
			p = text + 2 * i;
			salt[i] = (uint8_t)((strchr(hex, p[0]) - hex) << 4 |
			    (strchr(hex, p[1]) - hex));
		}
		return (0);
	}
	if (!create)
		return (-1);
	arc4random_buf(salt, SALT_LEN);
	for (i = 0; i < SALT_LEN; i++) {
		text[2 * i] = hex[salt[i] >> 4];
		text[2 * i + 1] = hex[salt[i] & 0xf];
	}
	text[2 * SALT_LEN] = '\n';
	return (config_save(SALT_FILE, text, 2 * SALT_LEN + 1));
}

/* This program's absolute path: what the hooks and the window run. */
int
self_path(char *buf, size_t len, const char *argv0)
{
	char		 tmp[PATH_MAX], dir[PATH_MAX];
	const char	*path, *p, *e;

	if (exe_path(tmp, sizeof(tmp)) == 0 && access(tmp, X_OK) == 0)
		return (strlcpy(buf, tmp, len) >= len ? -1 : 0);
	if (argv0 == NULL)
		return (-1);
	if (strchr(argv0, '/') != NULL)
		return (realpath(argv0, tmp) == NULL ||
		    strlcpy(buf, tmp, len) >= len ? -1 : 0);
	if ((path = getenv("PATH")) == NULL)
		return (-1);
	for (p = path; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, ":");
		if (snprintf(dir, sizeof(dir), "%.*s/%s", (int)(e - p), p,
		    argv0) >= (int)sizeof(dir) || access(dir, X_OK) == -1)
			continue;
		return (realpath(dir, tmp) == NULL ||
		    strlcpy(buf, tmp, len) >= len ? -1 : 0);
	}
	return (-1);
}
