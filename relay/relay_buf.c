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

void
rbuf_add(struct rbuf **bp, const void *data, size_t len)
{
	struct rbuf	*b = *bp;
	size_t		 need, size;

	if (len == 0)
		return;
	if (b == NULL) {
		size = len < RBUF_MIN ? RBUF_MIN : len;
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
	free(*bp);
	*bp = NULL;
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
