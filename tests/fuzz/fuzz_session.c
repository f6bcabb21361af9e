/*
 * fuzz_session.c - libFuzzer target: arbitrary bytes from a client, fed to
 * the SMTP channel (session_run) through the in-memory connection, with a
 * plugin that accepts everything.  Any crash, sanitizer report or hang is
 * a bug of the channel, the parsers, the line reader or DATA decoding.
 *
 * The first input byte picks listener settings (decode_data, smtputf8,
 * bare LF policy, a small size limit, low error and idle limits, and with
 * 0x80 the BDAT mode: every ESMTP extension of issue 18 offered, CHUNKING's
 * BDAT among them, reject_unauth_pipelining with the small size limit;
 * with 0xC0 LMTP too, where the plugin gives some recipients replies of
 * their own: a 452, a 550, or a 354 no recipient may get, which the core
 * must turn into 451) so
 * every path of the channel is fed.  The rest are config.c's defaults but for
 * error_sleep and greet_pause (0: a fuzzer must not sleep).  A setting
 * left at 0 here can end every session at once, and fuzzing then covers
 * nothing without failing (max_session_time did, from issue 6 until this
 * was noticed): so the target first runs a plain transaction and aborts
 * when it delivers no message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "session.h"
#include "smtp_ext.h"
#include "smtp_reply.h"

static unsigned long messages_seen; /* on_message calls, for the start-up check */

/* The plugin's on_message: reads what a plugin reads, accepts. */
static enum smtpgate_verdict accept_message(void *priv, const struct smtpgate_session *s,
					    const struct smtpgate_message *m,
					    struct smtpgate_reply *r)
{
	(void)priv;
	(void)r;
	messages_seen++;
	/* Touch what a plugin reads, so the sanitizers check it. */
	size_t sum = m->len;
	for (size_t i = 0; i < s->rcpt_count; i++)
		sum += strlen(s->rcpttos[i]);
	for (size_t i = 0; i < s->mail_option_count; i++)
		sum += strlen(s->mail_options[i]);
	if (m->len)
		sum += (unsigned char)m->data[m->len - 1];
	/* LMTP: a reply per recipient, chosen by its first byte. */
	for (size_t i = 0; i < m->rcpt_reply_count; i++) {
		char c = s->rcpttos[i][0];
		if (c == 't')
			smtp_reply_set(m->rcpt_replies[i], 452, "4.2.2", "full %zu", i);
		else if (c == 'p')
			smtp_reply_set(m->rcpt_replies[i], 550, "5.1.1", "unknown");
		else if (c == 'b')
			smtp_reply_set(m->rcpt_replies[i], 354, NULL, "not a recipient's reply");
	}
	return sum == (size_t)-1 ? SMTPGATE_REJECT : SMTPGATE_CONTINUE;
}

static const struct smtpgate_plugin accept_all = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "fuzz",
	.on_message = accept_message,
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Before any fuzzing: the listener built below lets a plain transaction
   through, or every input would end before its first command. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char transcript[] = "\x00" "EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
					 "DATA\r\nx\r\n.\r\nQUIT\r\n";
	static const char bdat[] = "\x80" "EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
				   "BDAT 3\r\nx\r\nBDAT 1 LAST\r\nyQUIT\r\n";
	static const char lmtp[] = "\xC0" "LHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
				   "RCPT TO:<t@d>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n";
	(void)argc;
	(void)argv;
	LLVMFuzzerTestOneInput((const uint8_t *)transcript, sizeof(transcript) - 1);
	LLVMFuzzerTestOneInput((const uint8_t *)bdat, sizeof(bdat) - 1);
	LLVMFuzzerTestOneInput((const uint8_t *)lmtp, sizeof(lmtp) - 1);
	if (messages_seen != 3) {
		fprintf(stderr, "fuzz_session: invariant broken: a plain transaction delivers no "
				"message (DATA, BDAT and LMTP each deliver one); a listener setting "
				"left at 0 here ends every session?\n");
		abort();
	}
	return 0;
}

/* One client: the first byte picks settings, the rest is what it sends. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct listener_config l;
	unsigned int knobs = size ? data[0] : 0;
	memset(&l, 0, sizeof(l));
	l.name = "fuzz";
	l.address = "127.0.0.1:25";
	l.handler = "fuzz";
	l.remote = "localhost:25";
	l.data_size_limit = (knobs & 1) ? 64 : 33554432;
	l.decode_data = (knobs & 2) != 0;
	l.smtputf8 = !l.decode_data && (knobs & 4);
	l.bare_lf = (enum bare_lf_policy)((knobs >> 3) % 3);
	l.command_timeout_sec = 1;
	l.data_timeout_sec = 1;
	l.max_recipients = 5;
	l.min_spare = l.max_spare = l.max_workers = 1;
	l.max_sessions_per_worker = 1000;
	l.soft_error_limit = (knobs & 0x20) ? 1 : 10;
	l.hard_error_limit = (knobs & 0x20) ? 3 : 20;
	l.error_sleep_sec = 0;
	l.max_session_time_sec = 3600;
	l.max_idle_commands = (knobs & 0x20) ? 3 : 100;
	if (knobs & 0x80) {
		l.extensions = SMTP_EXT_PIPELINING | SMTP_EXT_ENHANCEDSTATUSCODES | SMTP_EXT_CHUNKING |
			       SMTP_EXT_DSN;
		l.reject_unauth_pipelining = knobs & 1;
	}
	l.lmtp = (knobs & 0xC0) == 0xC0;
	struct session_env env = { .listener = &l, .plugin = &accept_all, .fqdn = "fuzz.example" };
	struct session_peer peer = { .addr = "127.0.0.1", .port = 1025,
				     .local_addr = "127.0.0.1", .local_port = 25 };
	struct conn_mem c;
	conn_mem_init(&c, (const char *)data + (size ? 1 : 0), size ? size - 1 : 0,
		      (knobs & 0x40) ? 7 : 0);
	session_run(&env, &c.base, &peer, "fuzz");
	conn_mem_free(&c);
	return 0;
}
