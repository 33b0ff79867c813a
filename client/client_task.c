/*
 * The Claude Code tasks the agent watches.  A task is known by its match
 * key, HMAC-SHA256 of the Claude session id under the per-install salt,
 * so the session id itself is not kept.  Its transcript is only ever
 * stat()ed: its size and modification time say whether the task is still
 * working; the file is never opened, and nothing of it leaves the machine.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "client.h"

/* The match key of a Claude session: 64 lowercase hex digits. */
void
task_key(const uint8_t *salt, size_t saltlen, const char *sid, char *out)
{
	static const char	hex[] = "0123456789abcdef";
	uint8_t			md[EVP_MAX_MD_SIZE];
	unsigned int		mdlen = 0, i;

	if (HMAC(EVP_sha256(), salt, (int)saltlen, (const uint8_t *)sid,
	    strlen(sid), md, &mdlen) == NULL || mdlen != MATCH_KEY_HEX / 2)
		fatalx("%s: HMAC-SHA256 failed", __func__);
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[MATCH_KEY_HEX] = '\0';
	explicit_bzero(md, sizeof(md));
}

/*
 * A task from a hook's message: session id, transcript path, then the
 * NAME=value words of the environment a window would open in.  NULL if
 * the payload is not exactly that.
 */
struct task *
task_new(const uint8_t *salt, size_t saltlen, const uint8_t *p, size_t len)
{
	struct task	*t;
	const char	*s = (const char *)p, *end = s + len, *w;
	size_t		 l, n = 0;

	if (len == 0 || p[len - 1] != '\0')
		return (NULL);
	t = xcalloc(1, sizeof(*t));
	/* Session id. */
	l = strlen(s);
	if (l == 0 || l > 256)
		goto bad;
	task_key(salt, saltlen, s, t->t_key);
	s += l + 1;
	/* Transcript. */
	if (s >= end || s[0] != '/' || (l = strlen(s)) >= PATH_MAX)
		goto bad;
	t->t_path = xstrdup(s);
	s += l + 1;
	for (; s < end; s += strlen(s) + 1) {
		for (w = NULL, l = 0; window_env[l] != NULL; l++)
			if (strncmp(s, window_env[l], strlen(window_env[l])) ==
			    0 && s[strlen(window_env[l])] == '=')
				w = s;
		if (w == NULL || n >= TASK_ENV_MAX)
			goto bad;
		t->t_env[n++] = xstrdup(w);
	}
	t->t_start = mono_ms();
	task_poll(t, t->t_start);
	t->t_grew = 0;		/* growth counts from now on */
	return (t);
bad:
	task_free(t);
	return (NULL);
}

void
task_free(struct task *t)
{
	size_t	i;

	if (t == NULL)
		return;
	for (i = 0; i < TASK_ENV_MAX; i++)
		free(t->t_env[i]);
	free(t->t_path);
	explicit_bzero(t->t_key, sizeof(t->t_key));
	free(t);
}

struct task *
task_find(struct tasklist *tl, const char *key)
{
	struct task	*t;

	TAILQ_FOREACH(t, tl, t_entry)
		if (strcmp(t->t_key, key) == 0)
			return (t);
	return (NULL);
}

/* stat() the transcript; 1 if it grew (size or time) since last time. */
int
task_poll(struct task *t, uint64_t now)
{
	struct stat	st;
	int		grew;

	if (stat(t->t_path, &st) == -1) {
		t->t_missing = 1;
		return (0);
	}
	t->t_missing = 0;
	grew = t->t_seen && (st.st_size != t->t_size ||
	    st.st_mtim.tv_sec != t->t_mtime.tv_sec ||
	    st.st_mtim.tv_nsec != t->t_mtime.tv_nsec);
	if (!t->t_seen && now > t->t_start)
		grew = 1;	/* it appeared after the prompt */
	t->t_seen = 1;
	t->t_size = st.st_size;
	t->t_mtime = st.st_mtim;
	if (grew)
		t->t_grew = now;
	return (grew);
}

/* Still working: it grew within the window. */
int
task_growing(const struct task *t, uint64_t now, uint64_t window)
{
	return (t->t_grew != 0 && now - t->t_grew <= window);
}

/* The value of NAME in the task's environment, or NULL. */
const char *
task_getenv(const struct task *t, const char *name)
{
	size_t	i, l = strlen(name);

	for (i = 0; i < TASK_ENV_MAX && t->t_env[i] != NULL; i++)
		if (strncmp(t->t_env[i], name, l) == 0 &&
		    t->t_env[i][l] == '=')
			return (t->t_env[i] + l + 1);
	return (NULL);
}
