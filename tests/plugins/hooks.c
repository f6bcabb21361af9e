/*
 * hooks.c - a test plugin that answers through its hooks, standing for an
 * upstream that refuses some recipients: local parts starting "unknown"
 * get 550 5.1.1, "busy" get 450 4.2.1; a message starting "REJECT" gets
 * 554 5.7.1; others are accepted.  It also registers the command XPING,
 * and logs "hook=on_connect" and "hook=on_disconnect" so tests can pair
 * them.  XPING answers with the session's peer (and balancer) address.
 */
#include <string.h>

#include <smtpgate/plugin.h>

static const struct smtpgate_host *hooks_host;

static int hooks_init(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
		      void **priv_out)
{
	(void)cfg;
	hooks_host = host;
	*priv_out = NULL;
	return 0;
}

static enum smtpgate_verdict hooks_rcpt(void *priv, const struct smtpgate_session *s,
					const char *address, struct smtpgate_reply *reply)
{
	(void)priv;
	(void)s;
	if (strncmp(address, "unknown", 7) == 0) {
		hooks_host->reply(reply, 550, "5.1.1", "<%s>: Recipient address rejected: User unknown",
				  address);
		return SMTPGATE_REJECT;
	}
	if (strncmp(address, "busy", 4) == 0) {
		hooks_host->reply(reply, 450, "4.2.1", "<%s>: mailbox busy", address);
		return SMTPGATE_TEMPFAIL;
	}
	return SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict hooks_message(void *priv, const struct smtpgate_session *s,
					   const struct smtpgate_message *m,
					   struct smtpgate_reply *reply)
{
	(void)priv;
	(void)s;
	if (m->len >= 6 && memcmp(m->data, "REJECT", 6) == 0) {
		hooks_host->reply(reply, 554, "5.7.1", "message content rejected");
		return SMTPGATE_REJECT;
	}
	hooks_host->reply(reply, 250, "2.0.0", "Ok: queued by hooks");
	return SMTPGATE_ACCEPT;
}

static enum smtpgate_verdict hooks_connect(void *priv, const struct smtpgate_session *s,
					   struct smtpgate_reply *reply)
{
	(void)priv;
	(void)reply;
	hooks_host->log(SMTPGATE_LOG_INFO, s, "hook=on_connect");
	return SMTPGATE_CONTINUE;
}

static void hooks_disconnect(void *priv, const struct smtpgate_session *s)
{
	(void)priv;
	hooks_host->log(SMTPGATE_LOG_INFO, s, "hook=on_disconnect");
}

static enum smtpgate_verdict xping(void *priv, const struct smtpgate_session *s, const char *arg,
				   struct smtpgate_reply *reply)
{
	(void)priv;
	/* 1.1: behind a balancer, its address too (the PROXY protocol tests). */
	if (hooks_host->abi_minor >= 1 && s->via_addr)
		hooks_host->reply(reply, 250, NULL, "pong %s from %s via %s port %u", arg ? arg : "-",
				  s->peer_addr, s->via_addr, s->via_port);
	else
		hooks_host->reply(reply, 250, NULL, "pong %s from %s", arg ? arg : "-", s->peer_addr);
	return SMTPGATE_ACCEPT;
}

static const struct smtpgate_command hooks_commands[] = {
	{ "XPING", xping },
	{ NULL, NULL },
};

static const struct smtpgate_plugin plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "hooks",
	.version = "test",
	.init = hooks_init,
	.on_connect = hooks_connect,
	.on_rcpt = hooks_rcpt,
	.on_message = hooks_message,
	.on_disconnect = hooks_disconnect,
	.commands = hooks_commands,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	return &plugin;
}
