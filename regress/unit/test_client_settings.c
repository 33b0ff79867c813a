/*
 * client_settings.c: our two hooks merged into and removed from Claude
 * Code's settings.json text, everything else kept; the hook commands and
 * how any install's command is recognised.
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "unit.h"

#define P	"/opt/dr/bin/devroulette hook prompt"
#define S	"/opt/dr/bin/devroulette hook stop"

static int
edit(const char *in, int install, char **out)
{
	char	err[256];
	size_t	len;

	return (settings_edit(in, strlen(in), install, P, S, out, &len, err,
	    sizeof(err)));
}

static void
test_commands(void)
{
	char	buf[256];

	CHECK(hook_command(buf, sizeof(buf), "/usr/bin/devroulette",
	    "prompt") == 0 && strcmp(buf,
	    "/usr/bin/devroulette hook prompt") == 0, "plain command");
	CHECK(hook_command(buf, sizeof(buf), "/home/a b/it's/devroulette",
	    "stop") == 0 && strcmp(buf,
	    "'/home/a b/it'\\''s/devroulette' hook stop") == 0,
	    "quoted command: %s", buf);
	CHECK(hook_command_ours(buf, "stop"), "quoted command is ours");
	CHECK(!hook_command_ours(buf, "prompt"), "but not for prompt");
	CHECK(hook_command_ours("/x/devroulette hook prompt", "prompt"),
	    "another install is ours");
	CHECK(!hook_command_ours("devroulette hook prompt", "prompt"),
	    "a relative path is not");
	CHECK(!hook_command_ours("/x/devroulette-old hook prompt", "prompt"),
	    "another program is not");
	CHECK(!hook_command_ours("/x/devroulette hook prompt; rm -rf /",
	    "prompt"), "a longer command is not");
	CHECK(!hook_command_ours("/x/y devroulette hook prompt", "prompt"),
	    "words before are not");
	CHECK(hook_command(buf, 10, "/usr/bin/devroulette", "prompt") == -1,
	    "too small a buffer");
}

static void
test_install(void)
{
	char	*a, *b, *c;
	int	 r;

	CHECK(edit("", 1, &a) == 1 && strstr(a, P) != NULL &&
	    strstr(a, S) != NULL, "empty file: both hooks");
	CHECK(edit(a, 1, &b) == 0 && b == NULL, "twice: no change");
	r = edit(a, 0, &c);
	CHECK(r == 1 && strcmp(c, "{}\n") == 0, "uninstall: back to {}");
	free(a);
	free(c);

	CHECK(edit("{\"a\":[1,{\"b\":null}],\"hooks\":{\"Stop\":[{\"matcher\":"
	    "\"\",\"hooks\":[{\"type\":\"command\",\"command\":\"say hi\"}]}]},"
	    "\"z\":-0.0e+5}", 1, &a) == 1, "with other hooks");
	CHECK(strstr(a, "\"say hi\"") != NULL && strstr(a, "-0.0e+5") != NULL &&
	    strstr(a, "\"matcher\": \"\"") != NULL, "others kept");
	CHECK(strstr(a, "say hi") < strstr(a, S), "ours after theirs");
	r = edit(a, 0, &b);
	CHECK(r == 1 && strcmp(b, "{\n  \"a\": [\n    1,\n    {\n"
	    "      \"b\": null\n    }\n  ],\n  \"hooks\": {\n    \"Stop\": [\n"
	    "      {\n        \"matcher\": \"\",\n        \"hooks\": [\n"
	    "          {\n            \"type\": \"command\",\n"
	    "            \"command\": \"say hi\"\n          }\n        ]\n"
	    "      }\n    ]\n  },\n  \"z\": -0.0e+5\n}\n") == 0,
	    "uninstall leaves theirs");
	free(a);
	free(b);
}

static void
test_stale(void)
{
	char	*a;

	CHECK(edit("{\"hooks\":{\"UserPromptSubmit\":[{\"hooks\":[{\"type\":"
	    "\"command\",\"command\":\"/old/devroulette hook prompt\"}]}]}}",
	    1, &a) == 1 && strstr(a, "/old/") == NULL && strstr(a, P) != NULL,
	    "another install's hook is replaced");
	free(a);
	CHECK(edit("{\"hooks\":{\"UserPromptSubmit\":[{\"hooks\":[{\"type\":"
	    "\"command\",\"command\":\"/old/devroulette hook prompt\"},{\"type\":"
	    "\"command\",\"command\":\"keep me\"}]}]}}", 0, &a) == 1 &&
	    strstr(a, "keep me") != NULL && strstr(a, "/old/") == NULL,
	    "a shared group keeps the other hook");
	free(a);
	CHECK(edit("{\"hooks\":{\"Stop\":[]}}", 0, &a) == 0,
	    "an empty array of theirs stays");
}

static void
test_refused(void)
{
	static const char *const bad[] = {
		"{", "[1]", "{\"a\":1} x", "{\"a\":1,}", "/* c */ {}",
		"{\"hooks\":[]}", "{\"hooks\":{\"Stop\":{}}}", "\"str\"",
		"{\"a\":\"\xff\"}", "{'a':1}",
	};
	char	 deep[400], *a;
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(edit(bad[i], 1, &a) == -1 && a == NULL,
		    "refused: %zu", i);
	memset(deep, '[', 200);
	memset(deep + 200, ']', 199);
	deep[399] = '\0';
	CHECK(edit(deep, 1, &a) == -1, "refused: too deep");
}

static void
test_installed(void)
{
	char	*a;

	CHECK(settings_installed("{}", 2) == 0, "{}: not installed");
	CHECK(settings_installed("{", 1) == -1, "broken: unknown");
	edit("{}", 1, &a);
	CHECK(settings_installed(a, strlen(a)) == 1, "after init: installed");
	free(a);
}

int
main(void)
{
	test_commands();
	test_install();
	test_stale();
	test_refused();
	test_installed();
	return (unit_done());
}
