/*
 * fuzz_parse.c - libFuzzer target: one command line of arbitrary bytes
 * through the channel's pure parsers as session_cmd.c chains them:
 * smtp_parse_command(), then smtp_parse_path() as MAIL FROM:, RCPT TO: and
 * VRFY take it, then smtp_parse_params() on what follows the path.
 *
 * Beyond "no crash" it checks what callers rely on: a command line with a
 * NUL or invalid UTF-8 is refused (UTF-8 judged by iconv, independently);
 * the verb is upper-case printable ASCII; the argument and a parsed address
 * are pieces of the line, NUL-terminated within their buffers, with no
 * control byte in an address (it goes into logs and file names); a path's
 * parameters start inside the argument; an address sent on as "<address>"
 * (what the relay does) parses back to itself, and parameters written back
 * parse back the same.  Never aborts but on a broken invariant.
 */
#include <iconv.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

#define FUZZ_LINE_MAX_BYTES 1024 /* run.sh's -max_len for this target */

static void check(int ok, const char *what);
static int utf8_by_iconv(const char *p, size_t len);
static void check_command(const char *line, size_t len, int status,
			  const struct smtp_command *cmd);
static void check_params(const struct smtp_params *p);
static void check_path(const char *arg, const char *keyword, int allow_null);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a crash libFuzzer reports with its input. */
static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_parse: invariant broken: %s\n", what);
		abort();
	}
}

/* UTF-8 validity as glibc's iconv sees it: a second opinion. */
static int utf8_by_iconv(const char *p, size_t len)
{
	static iconv_t cd = (iconv_t)-1;
	static char out[4 * FUZZ_LINE_MAX_BYTES + 4];
	if (cd == (iconv_t)-1 && (cd = iconv_open("UTF-32LE", "UTF-8")) == (iconv_t)-1)
		check(0, "iconv_open UTF-8");
	iconv(cd, NULL, NULL, NULL, NULL);
	char *in = (char *)p, *o = out;
	size_t in_left = len, out_left = sizeof(out);
	return iconv(cd, &in, &in_left, &o, &out_left) != (size_t)-1 && in_left == 0;
}

/* What the channel relies on from a split command line. */
static void check_command(const char *line, size_t len, int status,
			  const struct smtp_command *cmd)
{
	int bad = memchr(line, '\0', len) != NULL || !utf8_by_iconv(line, len);
	check(status == (len == 0 ? SMTP_PARSE_EMPTY : bad ? SMTP_PARSE_BAD_BYTES : SMTP_PARSE_OK),
	      "empty, NUL and invalid UTF-8 lines are refused, others taken");
	if (status != SMTP_PARSE_OK)
		return;
	size_t vlen = strnlen(cmd->verb, sizeof(cmd->verb));
	check(vlen < sizeof(cmd->verb), "the verb is NUL-terminated in its buffer");
	const char *sp = memchr(line, ' ', len);
	size_t want = sp ? (size_t)(sp - line) : len;
	check(vlen == (want < sizeof(cmd->verb) ? want : sizeof(cmd->verb) - 1) &&
		      cmd->verb_truncated == (want >= sizeof(cmd->verb)),
	      "the verb is the line up to its first space, cut to fit and flagged");
	for (size_t i = 0; i < vlen; i++)
		check((cmd->verb[i] > 0x20 && cmd->verb[i] < 0x7f &&
		       !(cmd->verb[i] >= 'a' && cmd->verb[i] <= 'z')) ||
			      cmd->verb[i] == '?',
		      "the verb is upper-case printable ASCII or '?'");
	check(cmd->has_arg == (sp != NULL), "an argument exactly when there is a space");
	size_t alen = strnlen(cmd->arg, sizeof(cmd->arg));
	check(alen < sizeof(cmd->arg), "the argument is NUL-terminated in its buffer");
	check(memmem(line, len, cmd->arg, alen) != NULL, "the argument is a piece of the line");
	/* An argument cut to fit (never so in the channel: its lines stop at
	   548 bytes) may end in a space. */
	int cut = alen == sizeof(cmd->arg) - 1;
	check(alen == 0 || (!strchr(" \t\r\n\v\f", cmd->arg[0]) &&
			    (cut || !strchr(" \t\r\n\v\f", cmd->arg[alen - 1]))),
	      "the argument is stripped");
}

/* Parameters as the session keeps them, and written back as relayed. */
static void check_params(const struct smtp_params *p)
{
	char again[SMTP_ARG_MAX_BYTES + 1], key[SMTP_ARG_MAX_BYTES];
	size_t used = 0;
	again[0] = '\0';
	check(p->count <= SMTP_PARAMS_MAX, "no more parameters than the array holds");
	for (size_t i = 0; i < p->count; i++) {
		const char *param = p->param[i];
		check(param >= p->text && param < p->text + sizeof(p->text) &&
			      memchr(param, '\0', (size_t)(p->text + sizeof(p->text) - param)),
		      "a parameter is a string inside the struct");
		size_t len = strlen(param);
		check(p->key_len[i] > 0 && p->key_len[i] <= len, "a key is not empty");
		for (size_t k = 0; k < p->key_len[i]; k++)
			check((param[k] >= 'A' && param[k] <= 'Z') || (param[k] >= '0' && param[k] <= '9'),
			      "a key is upper-case letters and digits");
		check(p->value[i] ? p->value[i] == param + p->key_len[i] + 1 && *p->value[i] &&
					    param[p->key_len[i]] == '='
				  : p->key_len[i] == len,
		      "a value follows KEY= and is not empty");
		memcpy(key, param, p->key_len[i]);
		key[p->key_len[i]] = '\0';
		int last = smtp_params_find(p, key);
		check(last >= (int)i && p->key_len[last] == p->key_len[i] &&
			      memcmp(p->param[last], param, p->key_len[i]) == 0,
		      "find gives the last parameter with that key");
		check(used + len + 1 < sizeof(again), "parameters fit an argument written back");
		used += (size_t)snprintf(again + used, sizeof(again) - used, "%s%s", used ? " " : "",
					 param);
	}
	check(smtp_params_find(p, "") == -1, "no parameter has an empty key");
	struct smtp_params back;
	check(smtp_parse_params(again, &back) == 0 && back.count == p->count,
	      "parameters written back parse again");
	for (size_t i = 0; i < p->count; i++)
		check(strcmp(back.param[i], p->param[i]) == 0, "and give the same parameters");
}

/* One use of a path, and what follows it, as session_cmd.c parses them. */
static void check_path(const char *arg, const char *keyword, int allow_null)
{
	char address[SMTP_ADDRESS_MAX_BYTES];
	const char *params = NULL;
	memset(address, 0x55, sizeof(address));
	if (smtp_parse_path(arg, keyword, allow_null, address, sizeof(address), &params) < 0)
		return;
	size_t alen = strnlen(address, sizeof(address));
	check(alen < sizeof(address), "the address is NUL-terminated in its buffer");
	check(alen > 0 || allow_null, "an empty address only where <> is allowed");
	check(strstr(arg, address) != NULL, "the address is a piece of the argument");
	for (size_t i = 0; i < alen; i++)
		check((unsigned char)address[i] >= 0x20, "no control byte in an address");
	size_t arglen = strlen(arg);
	check(params >= arg && params <= arg + arglen, "the parameters are inside the argument");
	check(!*params || !strchr(" \t\r\n\v\f", *params), "the parameters start after spaces");
	if (alen > 0) {
		/* What the relay sends: RCPT TO:<address>, MAIL FROM:<address>. */
		char again[SMTP_ADDRESS_MAX_BYTES + 16], back[SMTP_ADDRESS_MAX_BYTES];
		const char *rest;
		snprintf(again, sizeof(again), "%s<%s>", keyword, address);
		check(smtp_parse_path(again, keyword, allow_null, back, sizeof(back), &rest) == 0 &&
			      strcmp(back, address) == 0 && *rest == '\0',
		      "an address sent on in brackets parses back to itself");
	}
	struct smtp_params p;
	if (smtp_parse_params(params, &p) == 0)
		check_params(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct smtp_command cmd;
	const char *line = (const char *)data;
	if (size > FUZZ_LINE_MAX_BYTES)
		return 0;
	int status = smtp_parse_command(line, size, &cmd);
	check_command(line, size, status, &cmd);
	if (status != SMTP_PARSE_OK || !cmd.has_arg)
		return 0;
	check_path(cmd.arg, "FROM:", 1);
	check_path(cmd.arg, "TO:", 0);
	check_path(cmd.arg, "", 1);
	struct smtp_params p;
	if (smtp_parse_params(cmd.arg, &p) == 0)
		check_params(&p);
	return 0;
}
