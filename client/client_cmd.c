/*
 * What a submitted input line means: a /command from the table below (a
 * unique prefix is enough), "//..." to say a line starting with a slash,
 * an empty line to ask for a new partner after an idle or limit end, or
 * text for the partner.
 */

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "client.h"

static void	cmd_skip(struct session *);
static void	cmd_report(struct session *);
static void	cmd_insights(struct session *);
static void	cmd_next(struct session *);
static void	cmd_quit(struct session *);
static void	cmd_help_exec(struct session *);
static const struct cmd_entry *cmd_find(const char *, size_t);

static const struct cmd_entry cmd_table[] = {
	{ "skip",	"leave this chat and meet someone else",  cmd_skip },
	{ "report",	"flag this partner as abusive and skip",  cmd_report },
	{ "insights",	"server and chat statistics",		   cmd_insights },
	{ "next",	"a new partner after a chat has ended",    cmd_next },
	{ "quit",	"leave devroulette (also Ctrl-C, Ctrl-D)", cmd_quit },
	{ "help",	"this list",				   cmd_help_exec },
};

static void
cmd_skip(struct session *s)
{
	session_skip(s, 0);
}

static void
cmd_report(struct session *s)
{
	session_skip(s, 1);
}

static void
cmd_insights(struct session *s)
{
	session_insights(s);
}

static void
cmd_next(struct session *s)
{
	if (s->s_state == S_ASK)
		session_again(s);
	else if (s->s_state == S_ROOM)
		session_skip(s, 0);
	else
		ui_addf(LINE_ERROR, "Already looking for a partner.");
}

static void
cmd_quit(struct session *s)
{
	session_quit(s);
}

static void
cmd_help_exec(struct session *s)
{
	cmd_help(s);
}

void
cmd_help(struct session *s)
{
	size_t	i;

	ui_addf(LINE_SYSTEM, "Commands:");
	for (i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++)
		ui_addf(LINE_SYSTEM, "  /%-9s %s", cmd_table[i].ce_name,
		    cmd_table[i].ce_help);
	ui_addf(LINE_SYSTEM, "Start a line with // to send a leading / "
	    "(pasted text is never a command). PgUp and PgDn scroll.");
}

/* An exact name, or a prefix that only one command has. */
static const struct cmd_entry *
cmd_find(const char *w, size_t len)
{
	const struct cmd_entry	*found = NULL;
	size_t			 i;

	for (i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++) {
		if (strncmp(cmd_table[i].ce_name, w, len) != 0)
			continue;
		if (cmd_table[i].ce_name[len] == '\0')
			return (&cmd_table[i]);
		if (found != NULL)
			return (NULL);
		found = &cmd_table[i];
	}
	return (found);
}

/* A submitted line, UTF-8 and NUL-terminated. */
void
cmd_line(struct session *s, const uint8_t *text, size_t len)
{
	const struct cmd_entry	*ce;
	size_t			 n;

	if (len == 0 || sanitise_empty(text, len)) {
		if (s->s_state == S_ASK)
			session_again(s);
	} else if (len >= 2 && text[0] == '/' && text[1] == '/')
		session_say(s, text + 1, len - 1);
	else if (text[0] == '/') {
		n = strcspn((char *)text + 1, " ");
		ce = n > 0 ? cmd_find((char *)text + 1, n) : NULL;
		if (ce != NULL)
			ce->ce_exec(s);
		else
			ui_addf(LINE_ERROR, "Unknown command %.*s: /help lists "
			    "them.", (int)(n > 32 ? 32 : n + 1), (char *)text);
	} else
		session_say(s, text, len);
}
