/*
 * The parent's persistence of the aggregate counters, the only thing the
 * daemon writes to disk: STATE_DIR/counters, one JSON object, replaced
 * atomically (temporary file, fsync, rename, fsync of the directory).
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <yajl_tree.h>

#include "devrouletted.h"

#define COUNTERS_TMP	DR_COUNTERS_FILE ".tmp"
#define COUNTERS_MAX	4096

static const char *const counter_names[] = {
	"connections", "convos", "messages", "reports"
};

static uint64_t *
counters_field(struct counters *c, size_t i)
{
	switch (i) {
	case 0:
		return (&c->c_connections);
	case 1:
		return (&c->c_convos);
	case 2:
		return (&c->c_messages);
	default:
		return (&c->c_reports);
	}
}

/* Exactly the four members, each a non-negative integer. */
int
counters_parse(const char *buf, size_t len, struct counters *c)
{
	char		 text[COUNTERS_MAX + 1];
	yajl_val	 root, v;
	size_t		 i, j;
	int		 ok = 0;

	if (len > COUNTERS_MAX)
		return (-1);
	memcpy(text, buf, len);
	text[len] = '\0';
	if (strlen(text) != len)
		return (-1);
	if ((root = yajl_tree_parse(text, NULL, 0)) == NULL)
		return (-1);
	memset(c, 0, sizeof(*c));
	if (!YAJL_IS_OBJECT(root) || root->u.object.len != 4)
		goto done;
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 4; j++)
			if (strcmp(root->u.object.keys[j],
			    counter_names[i]) == 0)
				break;
		if (j == 4)
			goto done;
		v = root->u.object.values[j];
		if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0)
			goto done;
		*counters_field(c, i) = (uint64_t)YAJL_GET_INTEGER(v);
	}
	ok = 1;
 done:
	yajl_tree_free(root);
	return (ok ? 0 : -1);
}

/*
 * A missing file means a first start.  A file that exists but cannot be
 * read or parsed stops the daemon: it is never silently overwritten.
 */
int
counters_read(int dirfd, struct counters *c, char *err, size_t errsz)
{
	char		 buf[COUNTERS_MAX + 1];
	ssize_t		 n;
	size_t		 len = 0;
	int		 fd;

	memset(c, 0, sizeof(*c));
	if ((fd = openat(dirfd, DR_COUNTERS_FILE,
	    O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return (0);
		snprintf(err, errsz, "STATE_DIR/%s: %s", DR_COUNTERS_FILE,
		    strerror(errno));
		return (-1);
	}
	while (len < sizeof(buf) &&
	    (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errsz, "STATE_DIR/%s: %s",
			    DR_COUNTERS_FILE, strerror(errno));
			close(fd);
			return (-1);
		}
		len += (size_t)n;
	}
	close(fd);
	if (counters_parse(buf, len, c) == -1) {
		snprintf(err, errsz, "STATE_DIR/%s: malformed (move it away "
		    "to start from zero)", DR_COUNTERS_FILE);
		return (-1);
	}
	return (0);
}

int
counters_write(int dirfd, const struct counters *c)
{
	char	 buf[256];
	int	 fd, len;

	len = snprintf(buf, sizeof(buf), "{\"connections\":%llu,"
	    "\"convos\":%llu,\"messages\":%llu,\"reports\":%llu}\n",
	    (unsigned long long)c->c_connections,
	    (unsigned long long)c->c_convos,
	    (unsigned long long)c->c_messages,
	    (unsigned long long)c->c_reports);
	if (len < 0 || (size_t)len >= sizeof(buf))
		return (-1);
	if ((fd = openat(dirfd, COUNTERS_TMP, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0644)) == -1) {
		log_warn("%s: open", __func__);
		return (-1);
	}
	if (write(fd, buf, (size_t)len) != len || fsync(fd) == -1) {
		log_warn("%s: write", __func__);
		close(fd);
		unlinkat(dirfd, COUNTERS_TMP, 0);
		return (-1);
	}
	if (close(fd) == -1 ||
	    renameat(dirfd, COUNTERS_TMP, dirfd, DR_COUNTERS_FILE) == -1) {
		log_warn("%s: rename", __func__);
		unlinkat(dirfd, COUNTERS_TMP, 0);
		return (-1);
	}
	if (fsync(dirfd) == -1)
		log_warn("%s: fsync of the state directory", __func__);
	return (0);
}
