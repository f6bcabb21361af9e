/*
 * lmtpverdict.c - a test plugin for LMTP's reply per recipient (plugin
 * ABI 1.1, msg->rcpt_replies): at the final dot a recipient whose local
 * part starts "temp" gets 452 4.2.2, "perm" 550 5.1.1, "bad" a 354 (a
 * reply no recipient may get: the core must make it 451), any other is
 * left to the message's verdict: 554 5.7.1 for a message starting
 * "REJECT", a disconnect for one starting "DISCONNECT", else 250 2.0.0.
 * It logs what the session view says (peer_addr, peer_uid, peer_pid,
 * lmtp, protocol) at connect and at the message.
 */
#include <string.h>

#include <smtpgate/plugin.h>

static const struct smtpgate_host *lv_host;

static int lv_init(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
		   void **priv_out)
{
	(void)cfg;
	lv_host = host;
	*priv_out = NULL;
	return 0;
}

/* The 1.1 fields of the view, for the tests to compare. */
static void lv_log_view(const struct smtpgate_session *s, const char *when)
{
	lv_host->log(SMTPGATE_LOG_INFO, s,
		     "view at=%s peer_addr=%s peer_uid=%ld peer_pid=%ld lmtp=%d protocol=%s",
		     when, s->peer_addr, s->peer_uid, s->peer_pid, s->lmtp,
		     s->protocol ? s->protocol : "(null)");
}

static enum smtpgate_verdict lv_connect(void *priv, const struct smtpgate_session *s,
					struct smtpgate_reply *reply)
{
	(void)priv;
	(void)reply;
	lv_log_view(s, "connect");
	return SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict lv_message(void *priv, const struct smtpgate_session *s,
					const struct smtpgate_message *m,
					struct smtpgate_reply *reply)
{
	(void)priv;
	lv_log_view(s, "message");
	for (size_t i = 0; i < m->rcpt_reply_count; i++) {
		const char *to = s->rcpttos[i];
		if (strncmp(to, "temp", 4) == 0)
			lv_host->reply(m->rcpt_replies[i], 452, "4.2.2", "<%s>: mailbox full", to);
		else if (strncmp(to, "perm", 4) == 0)
			lv_host->reply(m->rcpt_replies[i], 550, "5.1.1", "<%s>: no such user", to);
		else if (strncmp(to, "bad", 3) == 0)
			lv_host->reply(m->rcpt_replies[i], 354, NULL, "go ahead");
	}
	if (m->len >= 6 && memcmp(m->data, "REJECT", 6) == 0) {
		lv_host->reply(reply, 554, "5.7.1", "message content rejected");
		return SMTPGATE_REJECT;
	}
	if (m->len >= 10 && memcmp(m->data, "DISCONNECT", 10) == 0)
		return SMTPGATE_DISCONNECT;
	lv_host->reply(reply, 250, "2.0.0", "Ok: delivered");
	return SMTPGATE_ACCEPT;
}

static const struct smtpgate_plugin plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "lmtpverdict",
	.version = "test",
	.init = lv_init,
	.on_connect = lv_connect,
	.on_message = lv_message,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	return &plugin;
}
