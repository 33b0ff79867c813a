/*
 * The strict JSON validator of client messages (relay/relay_msg.c, with
 * yajl).  The input is one text message's payload.  An accepted message
 * must be what the front relies on: a known type, a nonce the proof of
 * work accepts the form of, a known mode, text that is UTF-8 and lies in
 * the caller's buffer.  The text of a msg then goes the way the front
 * sends it to a partner (json_escape_buf() in common/json.c) and back
 * through the validator, and must come out unchanged.
 */

#include <stdlib.h>
#include <string.h>

#include "relay.h"
#include "fuzz.h"

#define MSG_PRE		"{\"t\":\"msg\",\"text\":"

static void	 check_msg(const struct client_msg *, const uint8_t *,
		    size_t);
static void	 roundtrip(const uint8_t *, size_t);

static void
check_msg(const struct client_msg *cm, const uint8_t *textbuf, size_t size)
{
	switch (cm->cm_type) {
	case CMSG_POW:
		FUZZ_CHECK(pow_nonce_valid(cm->cm_nonce, cm->cm_noncelen) &&
		    strlen(cm->cm_nonce) == cm->cm_noncelen, "nonce");
		break;
	case CMSG_JOIN:
		FUZZ_CHECK(cm->cm_mode >= MODE_TASK && cm->cm_mode < MODE_MAX,
		    "mode %d", cm->cm_mode);
		break;
	case CMSG_MSG:
		FUZZ_CHECK(cm->cm_text == textbuf && cm->cm_textlen <= size,
		    "text of %zu bytes outside the buffer", cm->cm_textlen);
		FUZZ_CHECK(utf8_valid(cm->cm_text, cm->cm_textlen),
		    "text is not UTF-8");
		roundtrip(cm->cm_text, cm->cm_textlen);
		break;
	case CMSG_BEAT:
	case CMSG_SKIP:
	case CMSG_REPORT:
	case CMSG_INSIGHTS:
	case CMSG_DONE:
		break;
	default:
		FUZZ_CHECK(0, "type %d accepted", cm->cm_type);
	}
}

/* Escaped as the front escapes, the text parses back to itself. */
static void
roundtrip(const uint8_t *text, size_t len)
{
	struct client_msg	 cm;
	char			*json;
	uint8_t			*back;
	size_t			 size, pre = strlen(MSG_PRE);
	int			 n;

	/* An escape is at most 6 bytes per input byte. */
	size = pre + 6 * len + 4;
	if ((json = malloc(size)) == NULL || (back = malloc(size)) == NULL)
		abort();
	memcpy(json, MSG_PRE, pre);
	n = json_escape_buf(json + pre, size - pre - 1, text, len);
	FUZZ_CHECK(n > 0, "json_escape_buf refused %zu bytes", len);
	json[pre + n] = '}';
	FUZZ_CHECK(cmsg_parse((uint8_t *)json, pre + n + 1, &cm, back,
	    size) == 0, "escaped text is refused");
	FUZZ_CHECK(cm.cm_type == CMSG_MSG && cm.cm_textlen == len &&
	    memcmp(cm.cm_text, text, len) == 0, "escaped text changed");
	free(json);
	free(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client_msg	 cm;
	uint8_t			*textbuf;

	/* The promised bound exactly (textsz >= input length). */
	if ((textbuf = malloc(size)) == NULL && size > 0)
		abort();
	if (cmsg_parse(data, size, &cm, textbuf, size) == 0)
		check_msg(&cm, textbuf, size);
	free(textbuf);
	return (0);
}
