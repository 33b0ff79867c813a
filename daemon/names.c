/*
 * The names the wire uses for error codes and room end reasons, and which
 * errors count as violations (PROTOCOL.md sections 3 and 6).
 */

#include "devrouletted.h"

static const struct {
	const char	*code;
	const char	*text;
	int		 violation;
} errors[ERR_MAX] = {
	[ERR_BAD_FRAME] = { "bad_frame", "malformed or unexpected message",
	    1 },
	[ERR_STATE] = { "state", "message not allowed in the current state",
	    0 },
	[ERR_POW] = { "pow", "wrong proof of work", 1 },
	[ERR_RATE] = { "rate", "messages are being sent too fast", 1 },
	[ERR_TOO_LONG] = { "too_long", "message is too long", 1 },
	[ERR_EMPTY] = { "empty", "message is empty after sanitising", 1 },
	[ERR_SKIP_RATE] = { "skip_rate",
	    "skips or reports are too close together", 1 },
	[ERR_JOIN_RATE] = { "join_rate", "too many joins in the last minute",
	    1 },
	[ERR_KEY_IN_USE] = { "key_in_use",
	    "this key is already queued or in a room", 0 },
	[ERR_INSIGHTS_RATE] = { "insights_rate",
	    "at most one insights request per second", 1 },
};

static const char *const ended[ENDED_MAX] = {
	[ENDED_SKIP] = "skip",
	[ENDED_REPORT] = "report",
	[ENDED_PEER_LEFT] = "peer_left",
	[ENDED_IDLE] = "idle",
	[ENDED_LIMIT] = "limit",
};

const char *
dr_error_code(enum dr_error e)
{
	if (e <= 0 || e >= ERR_MAX)
		fatalx("%s: error %d", __func__, (int)e);
	return (errors[e].code);
}

const char *
dr_error_text(enum dr_error e)
{
	if (e <= 0 || e >= ERR_MAX)
		fatalx("%s: error %d", __func__, (int)e);
	return (errors[e].text);
}

int
dr_error_is_violation(enum dr_error e)
{
	if (e <= 0 || e >= ERR_MAX)
		fatalx("%s: error %d", __func__, (int)e);
	return (errors[e].violation);
}

const char *
dr_ended_reason(enum dr_ended r)
{
	if (r <= 0 || r >= ENDED_MAX)
		fatalx("%s: reason %d", __func__, (int)r);
	return (ended[r]);
}
