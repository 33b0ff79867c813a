/*
 * Claude Code's user settings, ~/.claude/settings.json: the two hook
 * entries that init adds and uninstall removes, and nothing else.
 *
 * The file is parsed with yajl's callback API into an ordered tree that
 * keeps every member (duplicates too), every number as written and every
 * string as its bytes, so whatever we do not understand goes back out as
 * it came in.  The tree is written with yajl_gen and laid out with two
 * spaces, as Claude Code itself writes the file.  The entries are, in
 * hooks.UserPromptSubmit and hooks.Stop:
 *
 *	{"hooks": [{"type": "command", "command": "/abs/devroulette hook prompt"}]}
 *
 * (no "matcher": these two events do not use one).
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "client.h"

#define JSON_DEPTH_MAX	100	/* yajl_gen's own stack holds 128 */

enum jtype {
	J_NULL,
	J_BOOL,
	J_NUMBER,
	J_STRING,
	J_OBJECT,
	J_ARRAY
};

struct jnode {
	enum jtype		 j_type;
	int			 j_bool;
	char			*j_key;		/* the member name, in an object */
	size_t			 j_keylen;
	char			*j_text;	/* a number as written, string bytes */
	size_t			 j_len;
	struct jnode		*j_parent;
	TAILQ_HEAD(jlist, jnode) j_kids;
	TAILQ_ENTRY(jnode)	 j_entry;
};

struct jparse {
	struct jnode	*jp_root;
	struct jnode	*jp_cur;	/* the open object or array */
	char		*jp_key;	/* a member name waiting for its value */
	size_t		 jp_keylen;
	int		 jp_depth;
	int		 jp_toodeep;
};

static struct jnode *jnode_new(enum jtype, const void *, size_t);
static void	 jnode_free(struct jnode *);
static int	 jparse_add(struct jparse *, struct jnode *);
static int	 jcb_null(void *);
static int	 jcb_bool(void *, int);
static int	 jcb_number(void *, const char *, size_t);
static int	 jcb_string(void *, const unsigned char *, size_t);
static int	 jcb_map_open(void *);
static int	 jcb_key(void *, const unsigned char *, size_t);
static int	 jcb_close(void *);
static int	 jcb_array_open(void *);
static struct jnode *json_parse(const char *, size_t, char *, size_t);
static int	 json_gen(yajl_gen, const struct jnode *);
static char	*json_write(const struct jnode *, size_t *);
static struct jnode *jget(const struct jnode *, const char *);
static struct jnode *jadd(struct jnode *, const char *, enum jtype,
		    const char *);
static int	 hook_ours(const struct jnode *, const char *, const char *);
static int	 settings_edit_event(struct jnode *, const char *,
		    const char *, const char *, int, int *, char *, size_t);

static const yajl_callbacks jcallbacks = {
	.yajl_null = jcb_null,
	.yajl_boolean = jcb_bool,
	.yajl_number = jcb_number,
	.yajl_string = jcb_string,
	.yajl_start_map = jcb_map_open,
	.yajl_map_key = jcb_key,
	.yajl_end_map = jcb_close,
	.yajl_start_array = jcb_array_open,
	.yajl_end_array = jcb_close,
};

static struct jnode *
jnode_new(enum jtype type, const void *text, size_t len)
{
	struct jnode	*j;

	j = xcalloc(1, sizeof(*j));
	j->j_type = type;
	TAILQ_INIT(&j->j_kids);
	if (text != NULL) {
		j->j_text = xmalloc(len + 1);
		memcpy(j->j_text, text, len);
		j->j_text[len] = '\0';
		j->j_len = len;
	}
	return (j);
}

static void
jnode_free(struct jnode *j)
{
	struct jnode	*k;

	if (j == NULL)
		return;
	while ((k = TAILQ_FIRST(&j->j_kids)) != NULL) {
		TAILQ_REMOVE(&j->j_kids, k, j_entry);
		jnode_free(k);
	}
	free(j->j_key);
	free(j->j_text);
	free(j);
}

/* A finished value goes into the open container, or is the document. */
static int
jparse_add(struct jparse *jp, struct jnode *j)
{
	if (jp->jp_cur == NULL) {
		if (jp->jp_root != NULL) {
			jnode_free(j);
			return (0);
		}
		jp->jp_root = j;
		return (1);
	}
	if (jp->jp_cur->j_type == J_OBJECT) {
		j->j_key = jp->jp_key;
		j->j_keylen = jp->jp_keylen;
		jp->jp_key = NULL;
	}
	j->j_parent = jp->jp_cur;
	TAILQ_INSERT_TAIL(&jp->jp_cur->j_kids, j, j_entry);
	return (1);
}

static int
jcb_null(void *arg)
{
	return (jparse_add(arg, jnode_new(J_NULL, NULL, 0)));
}

static int
jcb_bool(void *arg, int b)
{
	struct jnode	*j = jnode_new(J_BOOL, NULL, 0);

	j->j_bool = b;
	return (jparse_add(arg, j));
}

static int
jcb_number(void *arg, const char *s, size_t len)
{
	return (jparse_add(arg, jnode_new(J_NUMBER, s, len)));
}

static int
jcb_string(void *arg, const unsigned char *s, size_t len)
{
	return (jparse_add(arg, jnode_new(J_STRING, s, len)));
}

static int
jcb_open(struct jparse *jp, enum jtype type)
{
	struct jnode	*j;

	if (++jp->jp_depth > JSON_DEPTH_MAX) {
		jp->jp_toodeep = 1;
		return (0);
	}
	j = jnode_new(type, NULL, 0);
	if (!jparse_add(jp, j))
		return (0);
	jp->jp_cur = j;
	return (1);
}

static int
jcb_map_open(void *arg)
{
	return (jcb_open(arg, J_OBJECT));
}

static int
jcb_array_open(void *arg)
{
	return (jcb_open(arg, J_ARRAY));
}

static int
jcb_key(void *arg, const unsigned char *s, size_t len)
{
	struct jparse	*jp = arg;

	free(jp->jp_key);
	jp->jp_key = xmalloc(len + 1);
	memcpy(jp->jp_key, s, len);
	jp->jp_key[len] = '\0';
	jp->jp_keylen = len;
	return (1);
}

static int
jcb_close(void *arg)
{
	struct jparse	*jp = arg;

	jp->jp_depth--;
	jp->jp_cur = jp->jp_cur->j_parent;
	return (1);
}

/* Strict JSON: no comments, one value, valid UTF-8.  NULL and err. */
static struct jnode *
json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct jparse	 jp;
	yajl_handle	 h;
	unsigned char	*msg;
	yajl_status	 st;

	memset(&jp, 0, sizeof(jp));
	if ((h = yajl_alloc(&jcallbacks, NULL, &jp)) == NULL)
		fatalx("%s: out of memory", __func__);
	st = yajl_parse(h, (const unsigned char *)text, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st != yajl_status_ok) {
		if (jp.jp_toodeep)
			snprintf(err, errlen, "nested more than %d deep",
			    JSON_DEPTH_MAX);
		else {
			msg = yajl_get_error(h, 0, NULL, 0);
			snprintf(err, errlen, "%s", msg != NULL ?
			    (char *)msg : "not JSON");
			if (msg != NULL)
				yajl_free_error(h, msg);
		}
		yajl_free(h);
		jnode_free(jp.jp_root);
		free(jp.jp_key);
		return (NULL);
	}
	yajl_free(h);
	free(jp.jp_key);
	if (jp.jp_root == NULL)
		snprintf(err, errlen, "no JSON value");
	return (jp.jp_root);
}

static int
json_gen(yajl_gen g, const struct jnode *j)
{
	const struct jnode	*k;
	int			 r = yajl_gen_status_ok;

	switch (j->j_type) {
	case J_NULL:
		return (yajl_gen_null(g));
	case J_BOOL:
		return (yajl_gen_bool(g, j->j_bool));
	case J_NUMBER:
		return (yajl_gen_number(g, j->j_text, j->j_len));
	case J_STRING:
		return (yajl_gen_string(g, (const unsigned char *)j->j_text,
		    j->j_len));
	case J_OBJECT:
		if ((r = yajl_gen_map_open(g)) != yajl_gen_status_ok)
			return (r);
		TAILQ_FOREACH(k, &j->j_kids, j_entry) {
			if ((r = yajl_gen_string(g,
			    (const unsigned char *)k->j_key, k->j_keylen)) !=
			    yajl_gen_status_ok || (r = json_gen(g, k)) !=
			    yajl_gen_status_ok)
				return (r);
		}
		return (yajl_gen_map_close(g));
	case J_ARRAY:
		if ((r = yajl_gen_array_open(g)) != yajl_gen_status_ok)
			return (r);
		TAILQ_FOREACH(k, &j->j_kids, j_entry)
			if ((r = json_gen(g, k)) != yajl_gen_status_ok)
				return (r);
		return (yajl_gen_array_close(g));
	}
	return (r);
}

/*
 * yajl_gen writes compact JSON; lay it out as JSON.stringify(v, null, 2)
 * does (empty containers stay "{}" and "[]"), with a final newline.
 */
static char *
json_write(const struct jnode *root, size_t *outlen)
{
	yajl_gen		 g;
	const unsigned char	*buf;
	size_t			 len, i, n = 0, cap;
	char			*out;
	int			 depth = 0, instr = 0, esc = 0, d;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		fatalx("%s: out of memory", __func__);
	if (json_gen(g, root) != yajl_gen_status_ok ||
	    yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
		fatalx("%s: cannot generate JSON", __func__);
	/* Each byte grows by at most one newline and the indentation. */
	cap = len * (2 + 2 * JSON_DEPTH_MAX) + 2;
	out = xmalloc(cap);
	for (i = 0; i < len; i++) {
		char c = (char)buf[i];

		if (instr) {
			out[n++] = c;
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				instr = 0;
			continue;
		}
		switch (c) {
		case '"':
			instr = 1;
			out[n++] = c;
			break;
		case '{':
		case '[':
			out[n++] = c;
			if (i + 1 < len && (buf[i + 1] == '}' ||
			    buf[i + 1] == ']')) {
				out[n++] = (char)buf[++i];
				break;
			}
			depth++;
			out[n++] = '\n';
			for (d = 0; d < depth; d++) {
				out[n++] = ' ';
				out[n++] = ' ';
			}
			break;
		case '}':
		case ']':
			depth--;
			out[n++] = '\n';
			for (d = 0; d < depth; d++) {
				out[n++] = ' ';
				out[n++] = ' ';
			}
			out[n++] = c;
			break;
		case ',':
			out[n++] = c;
			out[n++] = '\n';
			for (d = 0; d < depth; d++) {
				out[n++] = ' ';
				out[n++] = ' ';
			}
			break;
		case ':':
			out[n++] = c;
			out[n++] = ' ';
			break;
		default:
			out[n++] = c;
			break;
		}
	}
	out[n++] = '\n';
	out[n] = '\0';
	yajl_gen_free(g);
	*outlen = n;
	return (out);
}

/* The member that counts: JSON.parse keeps the last of duplicates. */
static struct jnode *
jget(const struct jnode *obj, const char *key)
{
	struct jnode	*k;
	size_t		 len = strlen(key);

	TAILQ_FOREACH_REVERSE(k, &obj->j_kids, jlist, j_entry)
		if (k->j_keylen == len && memcmp(k->j_key, key, len) == 0)
			return (k);
	return (NULL);
}

/* Append a new member (key not NULL) or element to a container. */
static struct jnode *
jadd(struct jnode *parent, const char *key, enum jtype type,
    const char *text)
{
	struct jnode	*j;

	j = jnode_new(type, text, text != NULL ? strlen(text) : 0);
	if (key != NULL) {
		j->j_key = xstrdup(key);
		j->j_keylen = strlen(key);
	}
	j->j_parent = parent;
	TAILQ_INSERT_TAIL(&parent->j_kids, j, j_entry);
	return (j);
}

static void
jremove(struct jnode *j)
{
	TAILQ_REMOVE(&j->j_parent->j_kids, j, j_entry);
	jnode_free(j);
}

/*
 * The command init writes for verb ("prompt", "stop"): the absolute path,
 * single-quoted for the shell when it holds anything unusual.
 */
int
hook_command(char *buf, size_t len, const char *self, const char *verb)
{
	static const char	 safe[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+-@%:,=";
	size_t			 n = 0;
	const char		*p;

	if (strspn(self, safe) == strlen(self))
		n = snprintf(buf, len, "%s hook %s", self, verb);
	else {
		if (len < 2)
			return (-1);
		buf[n++] = '\'';
		for (p = self; *p != '\0' && n + 5 < len; p++) {
			if (*p == '\'') {
				memcpy(buf + n, "'\\''", 4);
				n += 4;
			} else
				buf[n++] = *p;
		}
		if (*p != '\0')
			return (-1);
		buf[n++] = '\'';
		n += snprintf(buf + n, len - n, " hook %s", verb);
	}
	return (n >= len ? -1 : 0);
}

/*
 * Whether cmd is a devroulette hook for verb, from any install: an
 * absolute path ending in /devroulette (quoted or not), then "hook verb".
 */
int
hook_command_ours(const char *cmd, const char *verb)
{
	char		 tail[32], path[4096];
	size_t		 len, tlen, i, n = 0;
	const char	*base;

	snprintf(tail, sizeof(tail), " hook %s", verb);
	len = strlen(cmd);
	tlen = strlen(tail);
	if (len <= tlen || strcmp(cmd + len - tlen, tail) != 0)
		return (0);
	len -= tlen;
	if (len >= sizeof(path))
		return (0);
	if (cmd[0] == '\'') {
		for (i = 1; i < len; i++) {
			if (cmd[i] == '\'' && i + 3 < len &&
			    strncmp(cmd + i, "'\\''", 4) == 0) {
				path[n++] = '\'';
				i += 3;
			} else if (cmd[i] == '\'')
				break;
			else
				path[n++] = cmd[i];
		}
		if (i != len - 1)
			return (0);
	} else {
		memcpy(path, cmd, len);
		n = len;
		if (memchr(path, ' ', n) != NULL || memchr(path, '\'', n) !=
		    NULL)
			return (0);
	}
	path[n] = '\0';
	if (path[0] != '/')
		return (0);
	base = strrchr(path, '/') + 1;
	return (strcmp(base, "devroulette") == 0);
}

/*
 * A hook handler ours for verb: {"type": "command", "command": C}.  With
 * exact set, C must be exactly that; otherwise any install's command.
 */
static int
hook_ours(const struct jnode *h, const char *verb, const char *exact)
{
	const struct jnode	*t, *c;

	if (h->j_type != J_OBJECT || (t = jget(h, "type")) == NULL ||
	    t->j_type != J_STRING || strcmp(t->j_text, "command") != 0 ||
	    (c = jget(h, "command")) == NULL || c->j_type != J_STRING ||
	    strlen(c->j_text) != c->j_len)
		return (0);
	if (exact != NULL)
		return (strcmp(c->j_text, exact) == 0);
	return (hook_command_ours(c->j_text, verb));
}

/* A matcher group that holds only "hooks" and perhaps "matcher". */
static int
group_plain(const struct jnode *g)
{
	const struct jnode	*k;

	TAILQ_FOREACH(k, &g->j_kids, j_entry)
		if (strcmp(k->j_key, "hooks") != 0 &&
		    strcmp(k->j_key, "matcher") != 0)
			return (0);
	return (1);
}

/*
 * One event's array in hooks: remove every devroulette entry for verb
 * except one that is exactly cmd; on install, add cmd if it is not there.
 * Containers emptied by a removal go too.
 */
static int
settings_edit_event(struct jnode *hooks, const char *event, const char *verb,
    const char *cmd, int install, int *changed, char *err, size_t errlen)
{
	struct jnode	*arr, *g, *gnext, *hs, *h, *hnext, *n;
	int		 found = 0, removed, any = 0;

	if ((arr = jget(hooks, event)) != NULL && arr->j_type != J_ARRAY) {
		snprintf(err, errlen, "\"hooks\".\"%s\" is not an array",
		    event);
		return (-1);
	}
	if (arr != NULL) {
		for (g = TAILQ_FIRST(&arr->j_kids); g != NULL; g = gnext) {
			gnext = TAILQ_NEXT(g, j_entry);
			if (g->j_type != J_OBJECT || (hs = jget(g, "hooks")) ==
			    NULL || hs->j_type != J_ARRAY)
				continue;
			removed = 0;
			for (h = TAILQ_FIRST(&hs->j_kids); h != NULL;
			    h = hnext) {
				hnext = TAILQ_NEXT(h, j_entry);
				if (install && !found &&
				    hook_ours(h, verb, cmd)) {
					found = 1;
					continue;
				}
				if (hook_ours(h, verb, NULL)) {
					jremove(h);
					removed = any = 1;
				}
			}
			if (removed && TAILQ_EMPTY(&hs->j_kids) &&
			    group_plain(g))
				jremove(g);
		}
		if (any && !install && TAILQ_EMPTY(&arr->j_kids)) {
			jremove(arr);
			*changed = 1;
		}
	}
	if (!install || found)
		return (0);
	if (arr == NULL)
		arr = jadd(hooks, event, J_ARRAY, NULL);
	g = jadd(arr, NULL, J_OBJECT, NULL);
	hs = jadd(g, "hooks", J_ARRAY, NULL);
	n = jadd(hs, NULL, J_OBJECT, NULL);
	jadd(n, "type", J_STRING, "command");
	jadd(n, "command", J_STRING, cmd);
	return (0);
}

/*
 * Add (install) or remove our two hooks in the text of a settings.json.
 * An empty text is an empty object.  Returns -1 with err set when the text
 * cannot be changed safely, 0 when nothing changes, 1 with *out (a new
 * text, to be freed) otherwise.
 */
int
settings_edit(const char *in, size_t inlen, int install,
    const char *prompt_cmd, const char *stop_cmd, char **out, size_t *outlen,
    char *err, size_t errlen)
{
	struct jnode	*root, *hooks;
	char		*before = NULL, *after;
	size_t		 blen = 0, alen, i;
	int		 r = -1, emptied = 0;

	*out = NULL;
	for (i = 0; i < inlen; i++)
		if (strchr(" \t\r\n", in[i]) == NULL)
			break;
	if (i == inlen)
		root = jnode_new(J_OBJECT, NULL, 0);
	else if ((root = json_parse(in, inlen, err, errlen)) == NULL)
		return (-1);
	else if (root->j_type != J_OBJECT) {
		snprintf(err, errlen, "the top level is not a JSON object");
		goto done;
	} else
		before = json_write(root, &blen);

	if ((hooks = jget(root, "hooks")) != NULL &&
	    hooks->j_type != J_OBJECT) {
		snprintf(err, errlen, "\"hooks\" is not an object");
		goto done;
	}
	if (hooks == NULL) {
		if (!install) {
			r = 0;
			goto done;
		}
		hooks = jadd(root, "hooks", J_OBJECT, NULL);
	}
	if (settings_edit_event(hooks, "UserPromptSubmit", "prompt",
	    prompt_cmd, install, &emptied, err, errlen) == -1 ||
	    settings_edit_event(hooks, "Stop", "stop", stop_cmd, install,
	    &emptied, err, errlen) == -1)
		goto done;
	/* A "hooks" that only our entries filled goes with them. */
	if (emptied && TAILQ_EMPTY(&hooks->j_kids))
		jremove(hooks);

	after = json_write(root, &alen);
	if (before != NULL && alen == blen && memcmp(after, before, alen) == 0) {
		free(after);
		r = 0;
		goto done;
	}
	*out = after;
	*outlen = alen;
	r = 1;
done:
	free(before);
	jnode_free(root);
	return (r);
}

/* Whether a settings.json text holds both of our hooks (any install). */
int
settings_installed(const char *in, size_t inlen)
{
	struct jnode	*root, *hooks, *arr, *g, *hs, *h;
	char		 err[128];
	const char	*ev[2] = { "UserPromptSubmit", "Stop" };
	const char	*verb[2] = { "prompt", "stop" };
	int		 i, found = 0;

	if ((root = json_parse(in, inlen, err, sizeof(err))) == NULL)
		return (-1);
	if (root->j_type != J_OBJECT || (hooks = jget(root, "hooks")) ==
	    NULL || hooks->j_type != J_OBJECT) {
		jnode_free(root);
		return (0);
	}
	for (i = 0; i < 2; i++) {
		if ((arr = jget(hooks, ev[i])) == NULL ||
		    arr->j_type != J_ARRAY)
			continue;
		TAILQ_FOREACH(g, &arr->j_kids, j_entry) {
			if (g->j_type != J_OBJECT || (hs = jget(g, "hooks")) ==
			    NULL || hs->j_type != J_ARRAY)
				continue;
			TAILQ_FOREACH(h, &hs->j_kids, j_entry)
				if (hook_ours(h, verb[i], NULL)) {
					found |= 1 << i;
					break;
				}
		}
	}
	jnode_free(root);
	return (found == 3);
}
