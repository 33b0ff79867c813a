/*
 * The full-screen interface, on ncursesw: the chat scrolling above, a
 * status line, the input line below.  Text reaches the screen only as
 * wide characters of width 1 or 2 (anything else is dropped or shown as
 * U+FFFD), so no byte from the network is ever written to the terminal
 * as is.  The terminal is given back on every way out: a normal end,
 * fatal() (through atexit), a signal, a crash.
 *
 * The terminal is asked for bracketed paste: what arrives between
 * ESC [ 200 ~ and ESC [ 201 ~ is text to edit, never a key.  Its line
 * breaks stay in the input line, and Enter sends each line as a message
 * of its own; a pasted line is never a command.
 */

#include <sys/types.h>
#include <sys/ioctl.h>

#include <errno.h>
#include <langinfo.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <termios.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>

#include <event2/event.h>

#include <curses.h>
#include <term.h>

#include "client.h"

#define UI_PROMPT	"> "
#define UI_PROMPT_W	2
#define UI_CTRL(c)		((c) & 0x1f)
#define UI_KEY_PASTE_START	(KEY_MAX + 1)
#define UI_KEY_PASTE_END	(KEY_MAX + 2)
#define UI_PASTE_ON		"\033[?2004h"
#define UI_PASTE_OFF		"\033[?2004l"
#define UI_PASTE_GAP_MS		1000	/* a paste that never ended */
#define UI_BREAK		L'\n'	/* a pasted line break, in u_input */

#define UI_PUT_DRAW		0x1
#define UI_PUT_WORDS		0x2	/* wrap at spaces, not inside words */

struct ui {
	int		 u_active;
	int		 u_utf8;
	struct ui_ops	 u_ops;
	struct ui_sink	 u_sink;	/* the agent's: to a chat window */
	struct linelist	 u_lines;
	size_t		 u_nlines;
	uint32_t	 u_next_id;
	int		 u_scroll;	/* rows scrolled back from the end */

	wchar_t		 u_input[INPUT_MAX_CP + 1];
	uint8_t		 u_ipasted[INPUT_MAX_CP + 1];	/* per character */
	size_t		 u_ilen;
	size_t		 u_icur;
	int		 u_bracket;	/* the terminal was asked to bracket */
	int		 u_paste;	/* inside a bracketed paste */
	int		 u_paste_cr;	/* its last character was a CR */
	size_t		 u_paste_cut;	/* characters without room */
	size_t		 u_paste_from;	/* where it started in u_input */
	uint64_t	 u_paste_last;
	char		 u_status[256];

	struct event	*u_stdin_ev;
	struct event	*u_sig_ev[4];

	struct termios	 u_tio;		/* as we found it, for a crash */
	char		 u_rmcup[64];
	char		 u_cnorm[64];
};

static struct ui	 ui = { .u_lines = TAILQ_HEAD_INITIALIZER(ui.u_lines) };

static void	ui_atexit(void);
static void	ui_crash(int);
static void	ui_log(int, const char *);
static void	ui_signal(evutil_socket_t, short, void *);
static void	ui_stdin(evutil_socket_t, short, void *);
static void	ui_tty(const char *);
static void	ui_key(wint_t, int);
static void	ui_paste_key(wint_t, int);
static void	ui_paste_end(void);
static int	ui_typeable(wint_t);
static int	ui_cells(wchar_t);
static void	ui_submit(void);
static void	ui_submit_line(const wchar_t *, const uint8_t *, size_t, int);
static void	ui_insert(wchar_t, int);
static void	ui_erase(size_t, size_t);
static size_t	ui_longest(void);
static void	ui_trim(void);
static int	ui_wrap(const struct line *, int, int, int);
static void	ui_put(const wchar_t *, size_t, int *, int *, int, int, int,
		    int);
static void	ui_draw_chat(void);
static void	ui_draw_status(void);
static void	ui_draw_input(void);
static int	ui_wide_ok(uint32_t);
static struct line *ui_find(uint32_t);

int
ui_active(void)
{
	return (ui.u_active);
}

/* Only characters that occupy one or two cells and move the cursor. */
static int
ui_wide_ok(uint32_t cp)
{
	if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
		return (0);
	if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	    cp == 0x200e || cp == 0x200f || cp == 0x061c)
		return (0);
	return (1);
}

/*
 * Sanitised UTF-8 to what may be drawn.  Returns the characters stored;
 * out holds outlen of them at most.
 */
size_t
ui_text_to_wide(const uint8_t *p, size_t len, wchar_t *out, size_t outlen)
{
	size_t		i, n;
	uint32_t	cp;
	int		r, w;

	for (i = n = 0; i < len && n < outlen; i += r) {
		if ((r = utf8_decode(p + i, len - i, &cp)) == -1) {
			r = 1;
			continue;
		}
		if (!ui_wide_ok(cp))
			continue;
		if (!ui.u_utf8 && cp >= 0x80) {
			out[n++] = L'?';
			continue;
		}
		w = wcwidth((wchar_t)cp);
		if (w == 0)
			continue;	/* combining, zero-width: no cell */
		out[n++] = w < 0 || w > 2 ? (wchar_t)0xfffd : (wchar_t)cp;
	}
	return (n);
}

static void
ui_trim(void)
{
	struct line	*l;

	while (ui.u_nlines > SCROLLBACK_MAX) {
		l = TAILQ_FIRST(&ui.u_lines);
		TAILQ_REMOVE(&ui.u_lines, l, l_entry);
		free(l->l_text);
		free(l);
		ui.u_nlines--;
	}
}

/* A line for the chat area; text is UTF-8.  Works before the screen too. */
uint32_t
ui_add(enum line_kind kind, const char *who, const uint8_t *text, size_t len,
    int pending)
{
	struct line	*l;

	l = xcalloc(1, sizeof(*l));
	l->l_id = ++ui.u_next_id;
	l->l_kind = kind;
	l->l_pending = pending;
	if (who != NULL)
		strlcpy(l->l_who, who, sizeof(l->l_who));
	l->l_text = xreallocarray(NULL, len + 1, sizeof(wchar_t));
	l->l_len = ui_text_to_wide(text, len, l->l_text, len + 1);
	TAILQ_INSERT_TAIL(&ui.u_lines, l, l_entry);
	ui.u_nlines++;
	if (ui.u_sink.us_line != NULL)
		ui.u_sink.us_line(ui.u_sink.us_arg, l);
	ui_trim();
	if (ui.u_scroll > 0)
		ui.u_scroll += ui_wrap(l, COLS, 0, 0);
	ui_redraw();
	return (l->l_id);
}

void
ui_addf(enum line_kind kind, const char *fmt, ...)
{
	char	buf[1024];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (!utf8_valid((uint8_t *)buf, n))
		n = 0;	/* cut inside a character: better nothing */
	ui_add(kind, NULL, (uint8_t *)buf, n, 0);
}

static struct line *
ui_find(uint32_t id)
{
	struct line	*l;

	TAILQ_FOREACH_REVERSE(l, &ui.u_lines, linelist, l_entry)
		if (l->l_id == id)
			return (l);
	return (NULL);
}

void
ui_sent(uint32_t id)
{
	struct line	*l;

	if ((l = ui_find(id)) != NULL)
		l->l_pending = 0;
	if (ui.u_sink.us_mark != NULL)
		ui.u_sink.us_mark(ui.u_sink.us_arg, id, 0);
	ui_redraw();
}

void
ui_drop(uint32_t id)
{
	struct line	*l;

	if ((l = ui_find(id)) != NULL)
		l->l_pending = -1;
	if (ui.u_sink.us_mark != NULL)
		ui.u_sink.us_mark(ui.u_sink.us_arg, id, -1);
	ui_redraw();
}

void
ui_status(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(ui.u_status, sizeof(ui.u_status), fmt, ap);
	va_end(ap);
	if (ui.u_sink.us_status != NULL)
		ui.u_sink.us_status(ui.u_sink.us_arg, ui.u_status);
	ui_redraw();
}

/* Cells a character takes: 1 or 2; what has no width takes one. */
static int
ui_cells(wchar_t wc)
{
	return (wcwidth(wc) > 1 ? 2 : 1);
}

/*
 * Lay out (and with UI_PUT_DRAW, draw) characters from *x,*y, wrapping at
 * width; rows above top or below bottom are not drawn.  With UI_PUT_WORDS
 * a word that does not fit the rest of its row starts the next one; only
 * a word wider than a whole row is broken, and a space that ends a row is
 * not carried to the next.
 */
static void
ui_put(const wchar_t *w, size_t n, int *x, int *y, int width, int top,
    int bottom, int flags)
{
	size_t	i, j;
	int	cw, ww;

	for (i = 0; i < n; i++) {
		cw = ui_cells(w[i]);
		if ((flags & UI_PUT_WORDS) && *x > 0 && w[i] != L' ' &&
		    (i == 0 || w[i - 1] == L' ')) {
			for (ww = 0, j = i; j < n && w[j] != L' '; j++)
				ww += ui_cells(w[j]);
			if (*x + ww > width && ww <= width) {
				(*y)++;
				*x = 0;
			}
		}
		if (*x + cw > width) {
			(*y)++;
			*x = 0;
			if ((flags & UI_PUT_WORDS) && w[i] == L' ')
				continue;
		}
		if ((flags & UI_PUT_DRAW) && *y >= top && *y < bottom)
			mvaddnwstr(*y, *x, &w[i], 1);
		*x += cw;
	}
}

/* Rows the line takes at this width; drawn from row y if draw. */
static int
ui_wrap(const struct line *l, int width, int y, int draw)
{
	wchar_t	 who[HANDLE_MAX + 4] = L"";
	int	 x = 0, y0 = y, top = 0, bottom = LINES - 2, attr;
	int	 flags = UI_PUT_WORDS | (draw ? UI_PUT_DRAW : 0);
	size_t	 i, n;

	if (width < 4)
		width = 4;
	switch (l->l_kind) {
	case LINE_SYSTEM:
		attr = A_DIM;
		swprintf(who, HANDLE_MAX + 4, L"* ");
		break;
	case LINE_ERROR:
		attr = A_BOLD;
		swprintf(who, HANDLE_MAX + 4, L"! ");
		break;
	default:
		attr = A_BOLD;
		n = strlen(l->l_who);
		for (i = 0; i < n; i++)
			who[i] = (wchar_t)(unsigned char)l->l_who[i];
		who[n] = L':';
		who[n + 1] = L' ';
		who[n + 2] = L'\0';
		break;
	}
	if (draw)
		attron(attr);
	ui_put(who, wcslen(who), &x, &y, width, top, bottom, flags);
	if (draw && l->l_kind != LINE_SYSTEM)
		attroff(attr);
	ui_put(l->l_text, l->l_len, &x, &y, width, top, bottom, flags);
	if (draw)
		attroff(attr);
	if (l->l_pending != 0) {
		const wchar_t *tag = l->l_pending > 0 ? L" (pending)" :
		    L" (not sent)";

		if (draw)
			attron(A_DIM);
		ui_put(tag, wcslen(tag), &x, &y, width, top, bottom, flags);
		if (draw)
			attroff(A_DIM);
	}
	return (y - y0 + 1);
}

static void
ui_draw_chat(void)
{
	struct line	*l, *first = NULL;
	int		 height = LINES - 2, rows = 0, y;

	if (height < 1)
		return;
	/* Walk back from the newest line until the screen is full. */
	for (l = TAILQ_LAST(&ui.u_lines, linelist); l != NULL;
	    l = TAILQ_PREV(l, linelist, l_entry)) {
		/* cppcheck cannot see through TAILQ_PREV: l is set. */
		/* cppcheck-suppress uninitvar */
		rows += ui_wrap(l, COLS, 0, 0);
		first = l;
		if (rows >= height + ui.u_scroll)
			break;
	}
	if (ui.u_scroll > rows - height)
		ui.u_scroll = rows - height > 0 ? rows - height : 0;
	y = height - rows + ui.u_scroll;
	if (y > 0 && rows < height)
		y = 0;	/* a short history starts at the top */
	for (l = first; l != NULL; l = TAILQ_NEXT(l, l_entry))
		y += ui_wrap(l, COLS, y, 1);
}

static void
ui_draw_status(void)
{
	wchar_t	w[256];
	char	right[48];
	size_t	n, longest;
	int	x = 0, y = LINES - 2;

	if (y < 0)
		return;
	attron(A_REVERSE);
	mvhline(y, 0, ' ', COLS);
	n = ui_text_to_wide((uint8_t *)ui.u_status, strlen(ui.u_status), w,
	    sizeof(w) / sizeof(w[0]));
	if ((int)n > COLS)
		n = COLS;
	ui_put(w, n, &x, &y, COLS + 1, y, y + 1, UI_PUT_DRAW);
	if ((longest = ui_longest()) > MSG_MAX_CP)
		snprintf(right, sizeof(right), " %zu/%d chars ", longest,
		    MSG_MAX_CP);
	else if (ui.u_scroll > 0)
		snprintf(right, sizeof(right), " scrolled (PgDn) ");
	else
		snprintf(right, sizeof(right), " devroulette ");
	if ((int)strlen(right) + x < COLS)
		mvaddstr(LINES - 2, COLS - (int)strlen(right), right);
	attroff(A_REVERSE);
}

/*
 * The input line scrolls sideways to keep the cursor in view; a pasted
 * line break shows as a reversed arrow.
 */
static void
ui_draw_input(void)
{
	size_t	start = 0, i;
	int	width = COLS - UI_PROMPT_W - 1, w, x, y = LINES - 1, cx;

	if (width < 1 || y < 0)
		return;
	for (;;) {
		for (w = 0, i = start; i < ui.u_icur; i++)
			w += ui_cells(ui.u_input[i]);
		if (w <= width)
			break;
		start++;
	}
	mvaddstr(y, 0, UI_PROMPT);
	x = 0;
	cx = UI_PROMPT_W;
	for (i = start; i < ui.u_ilen; i++) {
		w = ui_cells(ui.u_input[i]);
		if (x + w > width)
			break;
		if (ui.u_input[i] == UI_BREAK) {
			attron(A_REVERSE);
			mvaddnwstr(y, UI_PROMPT_W + x, ui.u_utf8 ? L"\u21b5" :
			    L"|", 1);
			attroff(A_REVERSE);
		} else
			mvaddnwstr(y, UI_PROMPT_W + x, &ui.u_input[i], 1);
		x += w;
		if (i + 1 == ui.u_icur)
			cx = UI_PROMPT_W + x;
	}
	move(y, cx);
}

void
ui_redraw(void)
{
	if (!ui.u_active)
		return;
	erase();
	ui_draw_chat();
	ui_draw_status();
	ui_draw_input();
	refresh();
}

static void
ui_insert(wchar_t wc, int pasted)
{
	size_t	n = ui.u_ilen - ui.u_icur;

	if (ui.u_ilen >= INPUT_MAX_CP) {
		if (pasted)
			ui.u_paste_cut++;
		return;
	}
	wmemmove(&ui.u_input[ui.u_icur + 1], &ui.u_input[ui.u_icur], n);
	memmove(&ui.u_ipasted[ui.u_icur + 1], &ui.u_ipasted[ui.u_icur], n);
	ui.u_input[ui.u_icur] = wc;
	ui.u_ipasted[ui.u_icur++] = pasted;
	ui.u_ilen++;
}

/* The n characters of the input line from i on go. */
static void
ui_erase(size_t i, size_t n)
{
	size_t	rest = ui.u_ilen - i - n;

	wmemmove(&ui.u_input[i], &ui.u_input[i + n], rest);
	memmove(&ui.u_ipasted[i], &ui.u_ipasted[i + n], rest);
	ui.u_ilen -= n;
	if (ui.u_icur > i)
		ui.u_icur = ui.u_icur >= i + n ? ui.u_icur - n : i;
}

/* The longest line of the input, in characters, for the counter. */
static size_t
ui_longest(void)
{
	size_t	i, n = 0, max = 0;

	for (i = 0; i < ui.u_ilen; i++) {
		if (ui.u_input[i] == UI_BREAK)
			n = 0;
		else if (++n > max)
			max = n;
	}
	return (max);
}

/*
 * One line of the input goes out as UTF-8, to the session or to the
 * agent.  A line that starts with pasted text is never a command: its
 * leading slash is doubled, which cmd_line() reads as text.
 */
static void
ui_submit_line(const wchar_t *w, const uint8_t *pasted, size_t n,
    int multi)
{
	uint8_t	text[INPUT_MAX_CP * 4 + 2];
	size_t	i, len = 0;

	for (i = 0; i < n && w[i] == L' '; i++)
		;
	if (multi && i == n)
		return;		/* a blank line of a paste says nothing */
	if (n > 0 && pasted[0] && w[0] == L'/')
		text[len++] = '/';
	for (i = 0; i < n; i++)
		len += utf8_encode((uint32_t)w[i], text + len);
	text[len] = '\0';
	ui.u_ops.uo_line(ui.u_ops.uo_arg, text, len);
}

/* Enter: each line between pasted line breaks is a message of its own. */
static void
ui_submit(void)
{
	wchar_t	in[INPUT_MAX_CP];
	uint8_t	pasted[INPUT_MAX_CP];
	size_t	len = ui.u_ilen, i, start;
	int	multi;

	wmemcpy(in, ui.u_input, len);
	memcpy(pasted, ui.u_ipasted, len);
	multi = wmemchr(in, UI_BREAK, len) != NULL;
	ui.u_ilen = ui.u_icur = 0;
	ui.u_scroll = 0;
	for (start = i = 0; i <= len; i++) {
		if (i < len && in[i] != UI_BREAK)
			continue;
		ui_submit_line(in + start, pasted + start, i - start, multi);
		start = i + 1;
	}
	ui_redraw();
}

/* What may be typed or pasted into the input line. */
static int
ui_typeable(wint_t wc)
{
	return (wc >= 0x20 && ui_wide_ok(wc) && iswprint(wc) &&
	    wcwidth(wc) >= 1);
}

/* Inside a paste, keys are text: only characters and line breaks count. */
static void
ui_paste_key(wint_t wc, int fkey)
{
	ui.u_paste_last = mono_ms();
	if (fkey)
		;
	else if (wc == '\r' || (wc == '\n' && !ui.u_paste_cr))
		ui_insert(UI_BREAK, 1);
	else if (wc == '\t')
		ui_insert(L' ', 1);
	else if (ui_typeable(wc))
		ui_insert((wchar_t)wc, 1);
	ui.u_paste_cr = !fkey && wc == '\r';
}

static void
ui_paste_end(void)
{
	ui.u_paste = 0;
	/* A copied line often ends in a line break: it sends nothing. */
	while (ui.u_icur > ui.u_paste_from &&
	    ui.u_input[ui.u_icur - 1] == UI_BREAK)
		ui_erase(ui.u_icur - 1, 1);
	if (ui.u_paste_cut > 0)
		ui_addf(LINE_ERROR, "The input line holds %d characters: the "
		    "last %zu pasted were dropped.", INPUT_MAX_CP,
		    ui.u_paste_cut);
	ui.u_paste_cut = 0;
}

static void
ui_key(wint_t wc, int fkey)
{
	int	page = LINES - 3 > 1 ? LINES - 3 : 1;

	if (fkey && wc == UI_KEY_PASTE_START) {
		if (!ui.u_paste) {
			ui.u_paste = 1;
			ui.u_paste_cr = 0;
			ui.u_paste_cut = 0;
			ui.u_paste_from = ui.u_icur;
		}
		ui.u_paste_last = mono_ms();
		return;
	}
	if (fkey && wc == UI_KEY_PASTE_END) {
		if (ui.u_paste)
			ui_paste_end();
		return;
	}
	/* A paste whose end was lost: a second of silence ends it. */
	if (ui.u_paste && mono_ms() - ui.u_paste_last > UI_PASTE_GAP_MS)
		ui_paste_end();
	if (ui.u_paste) {
		ui_paste_key(wc, fkey);
		return;
	}
	if (fkey) {
		switch (wc) {
		case KEY_ENTER:
			ui_submit();
			return;
		case KEY_BACKSPACE:
			wc = 0x7f;
			break;
		case KEY_LEFT:
			if (ui.u_icur > 0)
				ui.u_icur--;
			return;
		case KEY_RIGHT:
			if (ui.u_icur < ui.u_ilen)
				ui.u_icur++;
			return;
		case KEY_HOME:
			ui.u_icur = 0;
			return;
		case KEY_END:
			ui.u_icur = ui.u_ilen;
			return;
		case KEY_DC:
			if (ui.u_icur < ui.u_ilen)
				ui_erase(ui.u_icur, 1);
			return;
		case KEY_PPAGE:
			ui.u_scroll += page;
			return;
		case KEY_NPAGE:
			ui.u_scroll = ui.u_scroll > page ? ui.u_scroll - page : 0;
			return;
		default:
			return;
		}
	}
	switch (wc) {
	case '\r':
	case '\n':
		ui_submit();
		return;
	case UI_CTRL('c'):
	case UI_CTRL('d'):
		ui.u_ops.uo_quit(ui.u_ops.uo_arg);
		return;
	case 0x7f:
	case UI_CTRL('h'):
		if (ui.u_icur > 0)
			ui_erase(ui.u_icur - 1, 1);
		return;
	case UI_CTRL('a'):
		ui.u_icur = 0;
		return;
	case UI_CTRL('e'):
		ui.u_icur = ui.u_ilen;
		return;
	case UI_CTRL('u'):
		ui_erase(0, ui.u_icur);
		return;
	case UI_CTRL('l'):
		clearok(curscr, TRUE);
		return;
	case '\t':
		ui_insert(L' ', 0);
		return;
	}
	if (ui_typeable(wc))
		ui_insert((wchar_t)wc, 0);
}

static void
ui_stdin(evutil_socket_t fd, short ev, void *arg)
{
	wint_t	wc;
	int	r;

	while (ui.u_active && (r = wget_wch(stdscr, &wc)) != ERR) {
		if (r == KEY_CODE_YES && wc == KEY_RESIZE)
			continue;
		ui_key(wc, r == KEY_CODE_YES);
	}
	ui_redraw();
}

static void
ui_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct winsize	ws;

	switch (sig) {
	case SIGWINCH:
		if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
		    ws.ws_row > 0 && ws.ws_col > 0)
			resizeterm(ws.ws_row, ws.ws_col);
		clearok(curscr, TRUE);
		ui_redraw();
		break;
	case SIGHUP:
		ui.u_ops.uo_hangup(ui.u_ops.uo_arg);
		break;
	default:
		ui.u_ops.uo_quit(ui.u_ops.uo_arg);
		break;
	}
}

/* fatal() and friends: give the terminal back before they print. */
static void
ui_log(int pri, const char *msg)
{
	if (ui.u_active && pri > LOG_ERR) {
		ui_addf(LINE_ERROR, "%s", msg);
		return;
	}
	ui_stop();
	fprintf(stderr, "devroulette: %s\n", msg);
}

static void
ui_atexit(void)
{
	ui_stop();
}

/* Straight to the terminal, async-signal-safe; a failure has no cure. */
static void
ui_tty(const char *p)
{
	if (write(STDOUT_FILENO, p, strlen(p)) == -1)
		errno = 0;
}

/* Async-signal-safe: only the saved bytes and tcsetattr. */
static void
ui_crash(int sig)
{
	if (ui.u_active) {
		ui_tty(ui.u_rmcup);
		ui_tty(ui.u_cnorm);
		if (ui.u_bracket)
			ui_tty(UI_PASTE_OFF);
		tcsetattr(STDIN_FILENO, TCSANOW, &ui.u_tio);
	}
	raise(sig);
}

void
ui_start(struct event_base *base, const struct ui_ops *ops)
{
	static const int	 sigs[] = { SIGWINCH, SIGINT, SIGTERM, SIGHUP };
	static const int	 crash[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL,
				    SIGABRT, SIGQUIT };
	struct sigaction	 sa;
	const char		*cap;
	size_t			 i;

	ui.u_ops = *ops;
	ui.u_utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	tcgetattr(STDIN_FILENO, &ui.u_tio);
	if (newterm(NULL, stdout, stdin) == NULL)
		fatalx("cannot use this terminal (TERM=%s)",
		    getenv("TERM") != NULL ? getenv("TERM") : "");
	ui.u_active = 1;
	atexit(ui_atexit);
	log_setsink(ui_log);
	raw();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	if (define_key("\033[200~", UI_KEY_PASTE_START) != ERR &&
	    define_key("\033[201~", UI_KEY_PASTE_END) != ERR) {
		ui.u_bracket = 1;
		ui_tty(UI_PASTE_ON);
	}
	if ((cap = tigetstr("rmcup")) != NULL && cap != (char *)-1)
		strlcpy(ui.u_rmcup, cap, sizeof(ui.u_rmcup));
	if ((cap = tigetstr("cnorm")) != NULL && cap != (char *)-1)
		strlcpy(ui.u_cnorm, cap, sizeof(ui.u_cnorm));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ui_crash;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
#ifndef DR_SANITIZE
	for (i = 0; i < sizeof(crash) / sizeof(crash[0]); i++)
		sigaction(crash[i], &sa, NULL);
#else
	(void)crash;
#endif
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		ui.u_sig_ev[i] = evsignal_new(base, sigs[i], ui_signal, NULL);
		if (ui.u_sig_ev[i] == NULL || event_add(ui.u_sig_ev[i],
		    NULL) == -1)
			fatalx("%s: cannot watch signals", __func__);
	}
	ui.u_stdin_ev = event_new(base, STDIN_FILENO, EV_READ | EV_PERSIST,
	    ui_stdin, NULL);
	if (ui.u_stdin_ev == NULL || event_add(ui.u_stdin_ev, NULL) == -1)
		fatalx("%s: cannot watch the terminal", __func__);
	ui_redraw();
}

void
ui_stop(void)
{
	size_t	i;

	if (!ui.u_active)
		return;
	ui.u_active = 0;
	endwin();
	if (ui.u_bracket)
		ui_tty(UI_PASTE_OFF);
	ui.u_bracket = ui.u_paste = 0;
	ui.u_ilen = ui.u_icur = 0;
	if (ui.u_stdin_ev != NULL)
		event_free(ui.u_stdin_ev);
	ui.u_stdin_ev = NULL;
	for (i = 0; i < sizeof(ui.u_sig_ev) / sizeof(ui.u_sig_ev[0]); i++) {
		if (ui.u_sig_ev[i] != NULL)
			event_free(ui.u_sig_ev[i]);
		ui.u_sig_ev[i] = NULL;
	}
	ui_clear();
}

/*
 * The agent keeps a chat's lines without a terminal, to hand them to the
 * window: characters are kept as they are, the window checks them again.
 */
void
ui_headless(void)
{
	ui.u_utf8 = 1;
}

void
ui_setsink(const struct ui_sink *sink)
{
	if (sink != NULL)
		ui.u_sink = *sink;
	else
		memset(&ui.u_sink, 0, sizeof(ui.u_sink));
}

/* Every line kept, then the status, to the sink. */
void
ui_replay(void)
{
	struct line	*l;

	if (ui.u_sink.us_line == NULL)
		return;
	for (l = TAILQ_FIRST(&ui.u_lines); l != NULL; l = TAILQ_NEXT(l,
	    l_entry))
		ui.u_sink.us_line(ui.u_sink.us_arg, l);
	if (ui.u_status[0] != '\0')
		ui.u_sink.us_status(ui.u_sink.us_arg, ui.u_status);
}

void
ui_clear(void)
{
	struct line	*l;

	while ((l = TAILQ_FIRST(&ui.u_lines)) != NULL) {
		TAILQ_REMOVE(&ui.u_lines, l, l_entry);
		free(l->l_text);
		free(l);
	}
	ui.u_nlines = 0;
	ui.u_scroll = 0;
	ui.u_status[0] = '\0';
}
