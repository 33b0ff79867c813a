/*
 * Strict validation of one inbound JSON message (PROTOCOL.md section 3,
 * client to server).  yajl's event parser does the JSON; the callbacks
 * below accept only a flat object of known members, each once and of its
 * one type, and the member set is checked against "t" once the object has
 * ended, so member order is free.  Everything else is -1: bad_frame.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "relay.h"

enum cmsg_member {
	CM_T,
	CM_NONCE,
	CM_V,
	CM_KEY,
	CM_MODE,
	CM_TEXT,
	CM_NONE = -1
};
#define CM_BIT(m)	(1U << (m))

struct cmsg_ctx {
	struct client_msg	*cc_msg;
	uint8_t			*cc_textbuf;
	size_t			 cc_textsz;
	int			 cc_depth;	/* 1 inside the object */
	int			 cc_member;	/* whose value comes next */
	unsigned int		 cc_seen;	/* CM_BIT of each member */
	int			 cc_ended;	/* the object has closed */
};

static const char *const cmsg_members[] = {
	[CM_T] = "t",
	[CM_NONCE] = "nonce",
	[CM_V] = "v",
	[CM_KEY] = "key",
	[CM_MODE] = "mode",
	[CM_TEXT] = "text"
};

static const struct {
	const char	*ct_name;
	int		 ct_type;
	unsigned int	 ct_members;
} cmsg_types[] = {
	{ "pow", CMSG_POW, CM_BIT(CM_T) | CM_BIT(CM_NONCE) },
	{ "join", CMSG_JOIN,
	    CM_BIT(CM_T) | CM_BIT(CM_V) | CM_BIT(CM_KEY) | CM_BIT(CM_MODE) },
	{ "beat", CMSG_BEAT, CM_BIT(CM_T) },
	{ "msg", CMSG_MSG, CM_BIT(CM_T) | CM_BIT(CM_TEXT) },
	{ "skip", CMSG_SKIP, CM_BIT(CM_T) },
	{ "report", CMSG_REPORT, CM_BIT(CM_T) },
	{ "insights", CMSG_INSIGHTS, CM_BIT(CM_T) },
	{ "done", CMSG_DONE, CM_BIT(CM_T) }
};

static const struct {
	const char	*cd_name;
	int		 cd_mode;
} cmsg_modes[] = {
	{ "task", MODE_TASK },
	{ "open", MODE_OPEN },
	{ "debug", MODE_DEBUG }
};

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static int	cmsg_surrogates_ok(const uint8_t *, size_t);
static int	cmsg_hex4(const uint8_t *, size_t, size_t, uint32_t *);
static int	cmsg_eq(const unsigned char *, size_t, const char *);
static int	cmsg_hexkey(const unsigned char *, size_t, uint8_t *);
static int	cmsg_string_value(struct cmsg_ctx *, const unsigned char *,
		    size_t);
static int	cmsg_cb_null(void *);
static int	cmsg_cb_boolean(void *, int);
static int	cmsg_cb_number(void *, const char *, size_t);
static int	cmsg_cb_string(void *, const unsigned char *, size_t);
static int	cmsg_cb_start_map(void *);
static int	cmsg_cb_map_key(void *, const unsigned char *, size_t);
static int	cmsg_cb_end_map(void *);
static int	cmsg_cb_array(void *);
static int	 cmsg_in_arena(const void *);
static void	*cmsg_malloc(void *, size_t);
static void	*cmsg_realloc(void *, void *, size_t);
static void	 cmsg_free(void *, void *);

/*
 * Numbers come as text (yajl_number), not as integer and double: yajl
 * fails the whole parse on an integer or double it cannot hold, but
 * "99999999999999999999" and "1e400" are JSON numbers other than 1, which
 * the protocol answers with 4005, not bad_frame.
 */
static const yajl_callbacks cmsg_callbacks = {
	cmsg_cb_null,
	cmsg_cb_boolean,
	NULL,
	NULL,
	cmsg_cb_number,
	cmsg_cb_string,
	cmsg_cb_start_map,
	cmsg_cb_map_key,
	cmsg_cb_end_map,
	cmsg_cb_array,
	cmsg_cb_array
};

/* yajl's allocations die on failure like every other in the daemon. */
/*
 * yajl allocates a handle, a lexer and buffers for every message.  They
 * come from a static arena, emptied (and wiped) after each parse, so that
 * a message costs no malloc(3).  Each block is preceded by its size, for
 * realloc.  What does not fit, a long message full of escapes, comes from
 * the heap as before.
 */
#define CMSG_ARENA	(64 * 1024)
#define ARENA_ALIGN	16
static _Alignas(ARENA_ALIGN) uint8_t	 cmsg_arena[CMSG_ARENA];
static size_t				 cmsg_arena_used;

static yajl_alloc_funcs cmsg_alloc = {
	cmsg_malloc,
	cmsg_realloc,
	cmsg_free,
	NULL
};

int
cmsg_parse(const uint8_t *buf, size_t len, struct client_msg *cm,
    uint8_t *textbuf, size_t textsz)
{
	struct cmsg_ctx	 cc;
	yajl_handle	 h;
	yajl_status	 st;
	size_t		 i;

	memset(cm, 0, sizeof(*cm));
	memset(&cc, 0, sizeof(cc));
	cc.cc_msg = cm;
	cc.cc_textbuf = textbuf;
	cc.cc_textsz = textsz;
	cc.cc_member = CM_NONE;
	if (!cmsg_surrogates_ok(buf, len))
		return (-1);

	cmsg_arena_used = 0;
	if ((h = yajl_alloc(&cmsg_callbacks, &cmsg_alloc, &cc)) == NULL)
		fatalx("%s: yajl_alloc", __func__);
	yajl_config(h, yajl_allow_comments, 0);
	yajl_config(h, yajl_dont_validate_strings, 0);
	yajl_config(h, yajl_allow_trailing_garbage, 0);
	yajl_config(h, yajl_allow_multiple_values, 0);
	yajl_config(h, yajl_allow_partial_values, 0);
	st = yajl_parse(h, buf, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	yajl_free(h);
	ASAN_UNPOISON_MEMORY_REGION(cmsg_arena, cmsg_arena_used);
	explicit_bzero(cmsg_arena, cmsg_arena_used);
	ASAN_POISON_MEMORY_REGION(cmsg_arena, CMSG_ARENA);
	if (st != yajl_status_ok || !cc.cc_ended)
		return (-1);

	for (i = 0; i < NITEMS(cmsg_types); i++)
		if (cmsg_types[i].ct_type == cm->cm_type)
			return (cc.cc_seen == cmsg_types[i].ct_members ? 0 : -1);
	return (-1);
}

/*
 * yajl 2 turns a lone high surrogate escape into "?" and pairs a high one
 * with whatever \u escape follows, so neither shows in the decoded bytes:
 * the escapes are checked in the raw text instead.  Outside strings JSON
 * has no quote or backslash, so tracking strings needs only those two.
 * Malformed escapes are left to yajl.
 */
static int
cmsg_surrogates_ok(const uint8_t *p, size_t len)
{
	uint32_t	 u, lo;
	size_t		 i;
	int		 instr = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '"')
			instr = !instr;
		if (!instr || p[i] != '\\')
			continue;
		if (++i >= len || p[i] != 'u' || !cmsg_hex4(p, len, i + 1, &u))
			continue;
		i += 4;
		if (u >= 0xdc00 && u <= 0xdfff)
			return (0);
		if (u < 0xd800 || u > 0xdbff)
			continue;
		if (i + 2 >= len || p[i + 1] != '\\' || p[i + 2] != 'u' ||
		    !cmsg_hex4(p, len, i + 3, &lo) || lo < 0xdc00 ||
		    lo > 0xdfff)
			return (0);
		i += 6;
	}
	return (1);
}

/* Four hex digits at p[off]. */
static int
cmsg_hex4(const uint8_t *p, size_t len, size_t off, uint32_t *out)
{
	size_t	 i;
	uint8_t	 c;

	if (off > len || len - off < 4)
		return (0);
	*out = 0;
	for (i = off; i < off + 4; i++) {
		c = p[i];
		if (c >= '0' && c <= '9')
			*out = (*out << 4) | (uint32_t)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			*out = (*out << 4) | (uint32_t)((c | 0x20) - 'a' + 10);
		else
			return (0);
	}
	return (1);
}

static int
cmsg_eq(const unsigned char *p, size_t len, const char *s)
{
	return (len == strlen(s) && memcmp(p, s, len) == 0);
}

/* 64 lowercase hex digits; uppercase is refused, as the protocol says. */
static int
cmsg_hexkey(const unsigned char *p, size_t len, uint8_t *key)
{
	size_t	 i;
	uint8_t	 c, v;

	if (len != 2 * MATCH_KEY_LEN)
		return (0);
	for (i = 0; i < len; i++) {
		c = p[i];
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			return (0);
		if (i % 2 == 0)
			key[i / 2] = v << 4;
		else
			key[i / 2] |= v;
	}
	return (1);
}

static int
cmsg_string_value(struct cmsg_ctx *cc, const unsigned char *s, size_t len)
{
	struct client_msg	*cm = cc->cc_msg;
	size_t			 i;

	switch (cc->cc_member) {
	case CM_T:
		for (i = 0; i < NITEMS(cmsg_types); i++)
			if (cmsg_eq(s, len, cmsg_types[i].ct_name))
				cm->cm_type = cmsg_types[i].ct_type;
		return (cm->cm_type != 0);
	case CM_NONCE:
		if (!pow_nonce_valid((const char *)s, len))
			return (0);
		memcpy(cm->cm_nonce, s, len);
		cm->cm_nonce[len] = '\0';
		cm->cm_noncelen = len;
		return (1);
	case CM_KEY:
		return (cmsg_hexkey(s, len, cm->cm_key));
	case CM_MODE:
		for (i = 0; i < NITEMS(cmsg_modes); i++)
			if (cmsg_eq(s, len, cmsg_modes[i].cd_name))
				cm->cm_mode = cmsg_modes[i].cd_mode;
		return (cm->cm_mode != 0);
	case CM_TEXT:
		/* Belt and braces behind cmsg_surrogates_ok(). */
		if (!utf8_valid(s, len) || len > cc->cc_textsz)
			return (0);
		if (len > 0)
			memcpy(cc->cc_textbuf, s, len);
		cm->cm_text = cc->cc_textbuf;
		cm->cm_textlen = len;
		return (1);
	default:
		return (0);
	}
}

static int
cmsg_cb_null(void *arg)
{
	return (0);
}

static int
cmsg_cb_boolean(void *arg, int b)
{
	return (0);
}

/*
 * yajl has checked the grammar.  strtod() rounds to the nearest double and
 * saturates to an infinity or a zero, so "1.0", "1e0" and "10E-1" are 1 and
 * every other number stays other than 1.  The copy is for the NUL.
 */
static int
cmsg_cb_number(void *arg, const char *s, size_t len)
{
	struct cmsg_ctx	*cc = arg;
	char		*num;

	if (cc->cc_member != CM_V)
		return (0);
	num = xmalloc(len + 1);
	memcpy(num, s, len);
	num[len] = '\0';
	cc->cc_msg->cm_v = strtod(num, NULL);
	free(num);
	cc->cc_member = CM_NONE;
	return (1);
}

static int
cmsg_cb_string(void *arg, const unsigned char *s, size_t len)
{
	struct cmsg_ctx	*cc = arg;
	int		 ok;

	if (cc->cc_member == CM_NONE || cc->cc_member == CM_V)
		return (0);
	ok = cmsg_string_value(cc, s, len);
	cc->cc_member = CM_NONE;
	return (ok);
}

static int
cmsg_cb_start_map(void *arg)
{
	struct cmsg_ctx	*cc = arg;

	if (cc->cc_depth != 0)
		return (0);
	cc->cc_depth = 1;
	return (1);
}

static int
cmsg_cb_map_key(void *arg, const unsigned char *s, size_t len)
{
	struct cmsg_ctx	*cc = arg;
	size_t		 i;

	for (i = 0; i < NITEMS(cmsg_members); i++) {
		if (!cmsg_eq(s, len, cmsg_members[i]))
			continue;
		if (cc->cc_seen & CM_BIT(i))
			return (0);
		cc->cc_seen |= CM_BIT(i);
		cc->cc_member = (int)i;
		return (1);
	}
	return (0);
}

static int
cmsg_cb_end_map(void *arg)
{
	struct cmsg_ctx	*cc = arg;

	cc->cc_depth = 0;
	cc->cc_ended = 1;
	return (1);
}

/* No member is an array, and the message itself is an object. */
static int
cmsg_cb_array(void *arg)
{
	return (0);
}

static int
cmsg_in_arena(const void *p)
{
	const uint8_t	*b = p;

	return (b >= cmsg_arena && b < cmsg_arena + CMSG_ARENA);
}

static void *
cmsg_malloc(void *arg, size_t size)
{
	uint8_t	*b;
	size_t	 need;

	need = ARENA_ALIGN +
	    ((size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1));
	if (size > CMSG_ARENA || need > CMSG_ARENA - cmsg_arena_used)
		return (xmalloc(size));
	b = cmsg_arena + cmsg_arena_used;
	cmsg_arena_used += need;
	ASAN_UNPOISON_MEMORY_REGION(b, ARENA_ALIGN + size);
	memcpy(b, &size, sizeof(size));
	return (b + ARENA_ALIGN);
}

static void *
cmsg_realloc(void *arg, void *p, size_t size)
{
	uint8_t	*n;
	size_t	 old;

	if (p == NULL)
		return (cmsg_malloc(arg, size));
	if (!cmsg_in_arena(p))
		return (xreallocarray(p, size, 1));
	memcpy(&old, (uint8_t *)p - ARENA_ALIGN, sizeof(old));
	if (size <= old)
		return (p);
	n = cmsg_malloc(arg, size);
	memcpy(n, p, old);
	return (n);
}

/* Arena blocks go all at once, after the parse. */
static void
cmsg_free(void *arg, void *p)
{
	if (!cmsg_in_arena(p))
		free(p);
}
