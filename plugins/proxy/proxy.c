/*
 * proxy.c - the "proxy" handler: smtpd.PureProxy that tells the client the
 * upstream's answers.  All the work is in plugins/relay/relay.c, shared
 * with the mailman handler; this file is the descriptor.  Settings are in
 * the listener's `proxy` group (see README).  It must never answer for
 * the upstream: every reply to RCPT and the final dot is the upstream's.
 */
#include <smtpgate/plugin.h>

#include "../relay/relay.h"

static int proxy_init(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
		      void **priv_out)
{
	struct relay *r = relay_new(host, cfg, "proxy");
	*priv_out = r;
	return r ? 0 : -1;
}

static void proxy_fini(void *priv)
{
	relay_free(priv);
}

static enum smtpgate_verdict proxy_connect(void *priv, const struct smtpgate_session *s,
					   struct smtpgate_reply *reply)
{
	(void)reply;
	relay_session_start(priv, s);
	return SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict proxy_mail(void *priv, const struct smtpgate_session *s,
					const char *address, struct smtpgate_reply *reply)
{
	return relay_mail(priv, s, address, reply);
}

static enum smtpgate_verdict proxy_rcpt(void *priv, const struct smtpgate_session *s,
					const char *address, struct smtpgate_reply *reply)
{
	return relay_rcpt(priv, s, address, reply);
}

static enum smtpgate_verdict proxy_data(void *priv, const struct smtpgate_session *s,
					struct smtpgate_reply *reply)
{
	return relay_data(priv, s, reply);
}

static enum smtpgate_verdict proxy_message(void *priv, const struct smtpgate_session *s,
					   const struct smtpgate_message *msg,
					   struct smtpgate_reply *reply)
{
	return relay_message(priv, s, msg, reply);
}

/* A piece of the message: to the upstream as it arrives. */
static enum smtpgate_verdict proxy_body(void *priv, const struct smtpgate_session *s,
					const char *data, size_t len, struct smtpgate_reply *reply)
{
	return relay_body(priv, s, data, len, reply);
}

static void proxy_reset(void *priv, const struct smtpgate_session *s)
{
	(void)s;
	relay_reset(priv);
}

/* The group's settings, checked by the core before init reads them. */
static const struct smtpgate_setting proxy_settings[] = {
	RELAY_SETTINGS,
	{ NULL, 0, 0, 0, NULL, NULL },
};

/* It relays: DSN's promises are the upstream's to keep (the core offers
   DSN where the listener's extensions list it). */
static const char *const proxy_keywords[] = { "DSN", NULL };

static const struct smtpgate_plugin proxy_plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "proxy",
	.version = "1.0",
	.init = proxy_init,
	.fini = proxy_fini,
	.on_connect = proxy_connect,
	.on_mail = proxy_mail,
	.on_rcpt = proxy_rcpt,
	.on_data = proxy_data,
	.on_message = proxy_message,
	.on_reset = proxy_reset,
	.settings = proxy_settings,
	/* X-Peer goes after the header block: it comes first, whole. */
	.stream_flags = SMTPGATE_STREAM_WHOLE_HEADER,
	.on_body = proxy_body,
	.ehlo_keywords = proxy_keywords,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	return &proxy_plugin;
}
