/*
 * state.c - a test plugin for the per-session and per-transaction state
 * of ABI 1.1: it keeps a counter block in *session_data (allocated at
 * connect, freed at disconnect) and a block per transaction in *tx_data
 * (allocated at MAIL, freed in on_tx_end), and logs what it finds, so a
 * test can see that each pointer starts NULL, that on_tx_end runs once
 * per transaction with the pointer it set, whatever ended it, and what
 * messages_accepted and protocol say.
 *
 * Answers: a sender starting "refuse" gets 550 at MAIL (after tx_data was
 * set: the core must still hand it back); a message starting "TEMPFAIL"
 * gets 451 4.3.0, one starting "REJECT" 554 5.7.1, others 250 2.0.0.
 */
#include <stdlib.h>
#include <string.h>

#include <smtpgate/plugin.h>

static const struct smtpgate_host *host;

struct session_block {
	unsigned long transactions; /* on_tx_end calls seen */
};

struct tx_block {
	unsigned long number;       /* this session's transaction number, from 1 */
	unsigned long rcpts;
};

static int state_init(const struct smtpgate_host *h, const struct smtpgate_cfg *cfg, void **priv)
{
	(void)cfg;
	host = h;
	*priv = NULL;
	return h->abi_minor >= 1 ? 0 : -1;
}

static enum smtpgate_verdict state_connect(void *priv, const struct smtpgate_session *s,
					   struct smtpgate_reply *reply)
{
	(void)priv;
	(void)reply;
	host->log(SMTPGATE_LOG_INFO, s, "hook=on_connect session_data=%s",
		  *s->session_data ? "set" : "null");
	*s->session_data = calloc(1, sizeof(struct session_block));
	return SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict state_mail(void *priv, const struct smtpgate_session *s,
					const char *address, struct smtpgate_reply *reply)
{
	struct session_block *sb = *s->session_data;
	(void)priv;
	host->log(SMTPGATE_LOG_INFO, s, "hook=on_mail tx_data=%s protocol=%s",
		  *s->tx_data ? "set" : "null", s->protocol);
	struct tx_block *tx = calloc(1, sizeof(*tx));
	tx->number = sb->transactions + 1;
	*s->tx_data = tx;
	if (strncmp(address, "refuse", 6) == 0) {
		host->reply(reply, 550, "5.7.1", "sender refused");
		return SMTPGATE_REJECT;
	}
	return SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict state_rcpt(void *priv, const struct smtpgate_session *s,
					const char *address, struct smtpgate_reply *reply)
{
	struct tx_block *tx = *s->tx_data;
	(void)priv;
	(void)address;
	(void)reply;
	tx->rcpts++;
	return SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict state_message(void *priv, const struct smtpgate_session *s,
					   const struct smtpgate_message *m,
					   struct smtpgate_reply *reply)
{
	(void)priv;
	host->log(SMTPGATE_LOG_INFO, s, "hook=on_message messages_accepted=%lu protocol=%s",
		  s->messages_accepted, s->protocol);
	if (m->len >= 8 && memcmp(m->data, "TEMPFAIL", 8) == 0) {
		host->reply(reply, 451, "4.3.0", "try again");
		return SMTPGATE_TEMPFAIL;
	}
	if (m->len >= 6 && memcmp(m->data, "REJECT", 6) == 0) {
		host->reply(reply, 554, "5.7.1", "content refused");
		return SMTPGATE_REJECT;
	}
	host->reply(reply, 250, "2.0.0", "Ok: kept by state");
	return SMTPGATE_ACCEPT;
}

static void state_tx_end(void *priv, const struct smtpgate_session *s, void *tx_data)
{
	struct session_block *sb = *s->session_data;
	struct tx_block *tx = tx_data;
	(void)priv;
	sb->transactions++;
	host->log(SMTPGATE_LOG_INFO, s, "hook=on_tx_end tx=%lu rcpts=%lu same_pointer=%s",
		  tx ? tx->number : 0, tx ? tx->rcpts : 0, tx == *s->tx_data ? "yes" : "no");
	free(tx);
}

static void state_disconnect(void *priv, const struct smtpgate_session *s)
{
	struct session_block *sb = *s->session_data;
	(void)priv;
	host->log(SMTPGATE_LOG_INFO, s, "hook=on_disconnect transactions=%lu messages_accepted=%lu",
		  sb->transactions, s->messages_accepted);
	free(sb);
	*s->session_data = NULL;
}

static const struct smtpgate_plugin plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "state",
	.version = "test",
	.init = state_init,
	.on_connect = state_connect,
	.on_mail = state_mail,
	.on_rcpt = state_rcpt,
	.on_message = state_message,
	.on_disconnect = state_disconnect,
	.on_tx_end = state_tx_end,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	return &plugin;
}
