/*
 * authcheck.c - a test plugin for auth.backend "plugin" (on_auth, ABI
 * 1.1): user "plug" with password "in" is accepted, user "temp" gets a
 * temporary failure, anyone else is refused.  on_mail logs what the
 * session view says of AUTH (auth_user, auth_mechanism) and MAIL's
 * options, so tests can check what a plugin sees.  It never logs a
 * password.
 */
#include <string.h>

#include <smtpgate/plugin.h>

static const struct smtpgate_host *authcheck_host;

static int authcheck_init(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
			  void **priv_out)
{
	(void)cfg;
	authcheck_host = host;
	*priv_out = NULL;
	return 0;
}

static enum smtpgate_verdict authcheck_auth(void *priv, const struct smtpgate_session *s,
					    const struct smtpgate_auth *cred,
					    struct smtpgate_reply *reply)
{
	(void)priv;
	(void)s;
	if (strcmp(cred->authcid, "temp") == 0) {
		authcheck_host->reply(reply, 454, "4.7.0", "try later");
		return SMTPGATE_TEMPFAIL;
	}
	if (strcmp(cred->authcid, "plug") == 0 && strcmp(cred->password, "in") == 0)
		return SMTPGATE_ACCEPT;
	authcheck_host->reply(reply, 535, "5.7.8", "this text is never sent");
	return SMTPGATE_REJECT;
}

static enum smtpgate_verdict authcheck_mail(void *priv, const struct smtpgate_session *s,
					    const char *address, struct smtpgate_reply *reply)
{
	char options[512] = "";
	size_t used = 0;
	(void)priv;
	(void)reply;
	for (size_t i = 0; i < s->mail_option_count && used + 2 < sizeof(options); i++) {
		size_t n = strlen(s->mail_options[i]);
		if (used + n + 2 >= sizeof(options))
			break;
		if (used)
			options[used++] = ',';
		memcpy(options + used, s->mail_options[i], n + 1);
		used += n;
	}
	if (authcheck_host->abi_minor >= 1)
		authcheck_host->log(SMTPGATE_LOG_INFO, s, "on_mail from=%s auth_user=%s "
				    "auth_mechanism=%s options=%s", address,
				    s->auth_user ? s->auth_user : "(none)",
				    s->auth_mechanism ? s->auth_mechanism : "(none)", options);
	return SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict authcheck_message(void *priv, const struct smtpgate_session *s,
					       const struct smtpgate_message *m,
					       struct smtpgate_reply *reply)
{
	(void)priv;
	(void)s;
	(void)m;
	authcheck_host->reply(reply, 250, "2.0.0", "Ok: taken by authcheck");
	return SMTPGATE_ACCEPT;
}

static const struct smtpgate_plugin plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "authcheck",
	.version = "test",
	.init = authcheck_init,
	.on_mail = authcheck_mail,
	.on_message = authcheck_message,
	.on_auth = authcheck_auth,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	return &plugin;
}
