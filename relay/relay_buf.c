/*
 * Byte buffers that exist only while they hold bytes.  A connection has
 * three (a partial head or frame, the fragments of a message, its output)
 * and nearly all the time all three are empty: a NULL pointer costs
 * nothing, an allocated buffer is freed as soon as it drains.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

#define RBUF_MIN	256
#define RBUF_CACHE	64	/* freed RBUF_MIN buffers kept for reuse */

/*
 * Nearly every buffer holds one small frame or two for one loop turn:
 * rather than a malloc(3) and a free(3) for each, the smallest size is
 * kept in a short cache.
 */
static struct rbuf	*rbuf_cache[RBUF_CACHE];
static size_t		 rbuf_ncache;

void
rbuf_add(struct rbuf **bp, const void *data, size_t len)
{
	struct rbuf	*b = *bp;
	size_t		 need, size;

	if (len == 0)
		return;
	if (b == NULL) {
		size = len < RBUF_MIN ? RBUF_MIN : len;
		if (size == RBUF_MIN && rbuf_ncache > 0) {
			b = rbuf_cache[--rbuf_ncache];
			ASAN_UNPOISON_MEMORY_REGION(b, sizeof(*b) + RBUF_MIN);
		} else
			b = xmalloc(sizeof(*b) + size);
		b->rb_off = b->rb_len = 0;
		b->rb_size = size;
		*bp = b;
	}
	need = b->rb_len + len;
	if (need < b->rb_len)
		fatalx("%s: overflow", __func__);
	if (b->rb_off + need > b->rb_size) {
		/* Move to the front before growing: the front was consumed. */
		if (b->rb_off > 0) {
			memmove(b->rb_data, b->rb_data + b->rb_off, b->rb_len);
			b->rb_off = 0;
		}
		if (need > b->rb_size) {
			size = b->rb_size;
			while (size < need)
				size *= 2;
			b = realloc(b, sizeof(*b) + size);
			if (b == NULL)
				fatal("%s", __func__);
			b->rb_size = size;
			*bp = b;
		}
	}
	memcpy(b->rb_data + b->rb_off + b->rb_len, data, len);
	b->rb_len += len;
}

void
rbuf_drain(struct rbuf **bp, size_t len)
{
	struct rbuf	*b = *bp;

	if (b == NULL)
		return;
	if (len >= b->rb_len) {
		rbuf_free(bp);
		return;
	}
	b->rb_off += len;
	b->rb_len -= len;
}

void
rbuf_free(struct rbuf **bp)
{
	struct rbuf	*b = *bp;

	*bp = NULL;
	if (b != NULL && b->rb_size == RBUF_MIN && rbuf_ncache < RBUF_CACHE) {
		ASAN_POISON_MEMORY_REGION(b, sizeof(*b) + RBUF_MIN);
		rbuf_cache[rbuf_ncache++] = b;
		return;
	}
	free(b);
}

size_t
rbuf_len(const struct rbuf *b)
{
	return (b == NULL ? 0 : b->rb_len);
}

uint8_t *
rbuf_ptr(const struct rbuf *b)
{
	return (b == NULL ? NULL : (uint8_t *)b->rb_data + b->rb_off);
}
