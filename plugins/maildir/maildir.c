/*
 * maildir.c - the "maildir" handler: durable delivery into Maildirs.
 *
 * A 250 means the message survives a power cut: each copy is written to
 * tmp/ under a unique name, fsync'd, renamed into new/, and new/ is
 * fsync'd; only then does the client get its 250.
 * A reader never sees a partial file in new/.  One message to several
 * recipients is all or nothing: if any copy fails, the copies already in
 * new/ are removed again and the client gets a 4xx to retry.  On an LMTP
 * listener, which answers each recipient, each copy stands alone: a
 * failed one is its recipients' 4xx, the others are kept and get 250.
 * The Received line names the session's protocol (ESMTP, LMTP, ...) and
 * a client on a UNIX socket by its uid, "via UNIX socket".
 *
 * `path` names one Maildir for every message, or one per recipient with
 * %u (local part), %d (domain), %a (address), lower-cased; an address that
 * could name a path outside the template's directory is refused at RCPT.
 * Below the template's fixed part no symlink is ever followed (maildir_dir.c):
 * a Maildir's owner who puts one there gets a 451 and a log line naming it,
 * never a file written where the symlink points.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <smtpgate/plugin.h>

#include "maildir.h"
#include "maildir_deliver.h"
#include "maildir_settings.h"

static int parse_mode(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
		      const char *name, mode_t *out)
{
	const char *text = NULL;
	if (host->cfg_string(cfg, name, &text) < 0)
		return -1;
	if (!text)
		return 0;
	char *end;
	long v = strtol(text, &end, 8);
	if (!*text || *end || v < 0 || v > 07777) {
		host->cfg_error(cfg, name, "\"%s\" is not an octal mode like \"0700\"", text);
		return -1;
	}
	*out = (mode_t)v;
	return 0;
}

/* The configured user and group as ids; (uid_t)-1 / (gid_t)-1 if unset. */
static int owner_ids(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
		     uid_t *uid_out, gid_t *gid_out)
{
	const char *user = NULL, *group = NULL;
	*uid_out = (uid_t)-1;
	*gid_out = (gid_t)-1;
	if (host->cfg_string(cfg, "user", &user) < 0 || host->cfg_string(cfg, "group", &group) < 0)
		return -1;
	if (user) {
		struct passwd *pw = getpwnam(user);
		if (!pw) {
			host->cfg_error(cfg, "user", "no such user \"%s\"", user);
			return -1;
		}
		*uid_out = pw->pw_uid;
		*gid_out = pw->pw_gid;
	}
	if (group) {
		struct group *gr = getgrnam(group);
		if (!gr) {
			host->cfg_error(cfg, "group", "no such group \"%s\"", group);
			return -1;
		}
		*gid_out = gr->gr_gid;
	}
	return 0;
}

/* Give the base (and in single-folder mode its tmp, new and cur) to
   uid/gid, through descriptors opened without following a symlink: init
   runs as root, and a chown by path would hand whatever a planted symlink
   names to the Maildir's owner. */
static int chown_base(struct maildir_state *st, const struct smtpgate_cfg *cfg, int base_fd,
		      uid_t uid, gid_t gid)
{
	static const char *const parts[] = { "", "tmp", "new", "cur" };
	for (size_t i = 0; i < (st->per_recipient ? 1u : 4u); i++) {
		char bad[MAILDIR_PATH_MAX_BYTES];
		int fd = maildir_dir_open(base_fd, parts[i], &st->dirs, 0, bad, sizeof(bad));
		if (fd < 0 || fchown(fd, uid, gid) < 0) {
			st->host->cfg_error(cfg, "user", "cannot chown \"%s/%s\": %s", st->base, parts[i],
					    strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

/* At init, as root: the fixed part of the template (the whole Maildir in
   single-folder mode) exists and belongs to user/group when set. */
static int prepare_base(struct maildir_state *st, const struct smtpgate_cfg *cfg)
{
	const struct smtpgate_host *host = st->host;
	uid_t uid;
	gid_t gid;
	char bad[MAILDIR_PATH_MAX_BYTES];
	if (owner_ids(host, cfg, &uid, &gid) < 0)
		return -1;
	/* At init the base itself is the sysadmin's to have made durable;
	   tmp, new and cur of a single Maildir are synced into it. */
	int fd = -1;
	bad[0] = '\0';
	if (maildir_dir_make_base(st->base, &st->dirs) < 0 ||
	    (fd = open(st->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (!st->per_recipient &&
	     maildir_dir_make_maildir(fd, "", &st->dirs, bad, sizeof(bad)) < 0)) {
		host->cfg_error(cfg, "path", "cannot create \"%s%s%s\": %s", st->base,
				bad[0] ? "/" : "", bad,
				errno == ELOOP ? "a symlink, not followed" : strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int rc = 0;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && geteuid() == 0)
		rc = chown_base(st, cfg, fd, uid, gid);
	close(fd);
	return rc;
}

static int maildir_init(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
			void **priv_out)
{
	struct maildir_state *st = calloc(1, sizeof(*st));
	const char *path = NULL, *ending = "lf", *why = "too long";
	if (!st)
		return -1;
	st->host = host;
	st->dirs.mode = 0700;
	st->file_mode = 0600;
	st->return_path = st->original_to = st->delivered_to = st->received = 1;
	if (host->cfg_string(cfg, "path", &path) < 0 || host->cfg_string(cfg, "line_ending", &ending) < 0 ||
	    parse_mode(host, cfg, "dir_mode", &st->dirs.mode) < 0 ||
	    parse_mode(host, cfg, "file_mode", &st->file_mode) < 0 ||
	    host->cfg_bool(cfg, "return_path", &st->return_path) < 0 ||
	    host->cfg_bool(cfg, "original_to", &st->original_to) < 0 ||
	    host->cfg_bool(cfg, "delivered_to", &st->delivered_to) < 0 ||
	    host->cfg_bool(cfg, "received", &st->received) < 0 ||
	    host->cfg_bool(cfg, "hide_client", &st->hide_client) < 0)
		goto fail;
	if (!path) {
		host->cfg_error(cfg, "path", "the maildir handler needs a path");
		goto fail;
	}
	if (maildir_template_check(path, &why) < 0 || strlen(path) >= sizeof(st->path) ||
	    maildir_template_base(path, st->base, sizeof(st->base)) < 0) {
		host->cfg_error(cfg, "path", "\"%s\": %s", path, strlen(path) >= sizeof(st->path)
								 ? "too long" : why);
		goto fail;
	}
	if (strcmp(ending, "lf") && strcmp(ending, "crlf")) {
		host->cfg_error(cfg, "line_ending", "expected \"lf\" or \"crlf\", not \"%s\"", ending);
		goto fail;
	}
	st->per_recipient = maildir_template_per_recipient(path);
	/* One Maildir for all: the template with %% made %, once. */
	snprintf(st->path, sizeof(st->path), "%s", st->per_recipient ? path : st->base);
	st->crlf = strcmp(ending, "crlf") == 0;
	st->dirs.umask = umask(0);
	umask(st->dirs.umask);
	if (gethostname(st->hostname, sizeof(st->hostname) - 1) < 0)
		snprintf(st->hostname, sizeof(st->hostname), "localhost");
	if (prepare_base(st, cfg) < 0)
		goto fail;
	*priv_out = st;
	return 0;
fail:
	free(st);
	return -1;
}

static void maildir_fini(void *priv)
{
	maildir_tx_abort(priv);
	free(priv);
}

/* Refuse at RCPT an address that cannot name a mailbox. */
static enum smtpgate_verdict maildir_rcpt(void *priv, const struct smtpgate_session *s,
					  const char *address, struct smtpgate_reply *reply)
{
	struct maildir_state *st = priv;
	char path[MAILDIR_PATH_MAX_BYTES];
	const char *why;
	if (!st->per_recipient || maildir_expand(st->path, address, path, sizeof(path), &why) == 0)
		return SMTPGATE_CONTINUE;
	st->host->log(SMTPGATE_LOG_INFO, s, "rcpt=<%s> refused: %s", address, why);
	st->host->reply(reply, 550, "5.1.3", "<%s>: cannot be delivered to a mailbox: %s", address,
			why);
	return SMTPGATE_REJECT;
}

/* Printable ASCII of a client-chosen string for a header (the HELO name). */
static void header_safe(char *out, size_t size, const char *in)
{
	size_t n = 0;
	for (; *in && n + 1 < size && n < 255; in++) {
		unsigned char c = (unsigned char)*in;
		out[n++] = (c > 0x20 && c < 0x7f && c != '(' && c != ')') ? (char)c : '?';
	}
	out[n] = '\0';
}

/* The Received line's "with" word: the session's own (RFC 3848: ESMTP,
   ESMTPS, LMTP, ...; plugin ABI 1.1), from an older host what it can
   tell; with SMTPUTF8, RFC 6531's word for it (UTF8SMTP, UTF8SMTPS,
   UTF8LMTP, ...: the protocol's without ESMTP's E). */
static const char *with_word(const struct maildir_state *st, const struct smtpgate_session *s,
			     char *out, size_t size)
{
	const char *p = st->host->abi_minor >= 1 && s->protocol ? s->protocol
			: s->extended_smtp ? "ESMTP" : "SMTP";
	if (!s->smtputf8 || strncmp(p, "UTF8", 4) == 0) /* the core's has it */
		return p;
	snprintf(out, size, "UTF8%s", p + (p[0] == 'E'));
	return out;
}

/* Where the message came from, for the Received comment: the client's
   address, or on a UNIX socket (no address) the uid it runs as. */
static void from_comment(const struct maildir_state *st, const struct smtpgate_session *s,
			 char *out, size_t size)
{
	if (strcmp(s->peer_addr, "unix"))
		snprintf(out, size, "[%s]", s->peer_addr);
	else if (st->host->abi_minor >= 1 && s->peer_uid >= 0)
		snprintf(out, size, "uid %ld", s->peer_uid);
	else
		snprintf(out, size, "unknown uid");
}

/* Over TLS, Postfix's "(using TLSv1.3 with cipher ...)" line; "" without. */
static void received_using(const struct maildir_state *st, const struct smtpgate_session *s,
			   char *out, size_t size)
{
	const char *tls = st->host->abi_minor >= 1 ? s->tls_protocol : NULL;
	out[0] = '\0';
	if (tls)
		snprintf(out, size, "\t(using %s with cipher %s)\n", tls, s->tls_cipher);
}

size_t maildir_headers(const struct maildir_state *st, const struct smtpgate_session *s,
		       const char *rcpt, int shared, char *out, size_t size)
{
	size_t n = 0;
/* A line that does not fit whole is left out, never cut in two. */
#define ADD(...)                                                         \
	do {                                                             \
		int k_ = snprintf(out + n, size - n, __VA_ARGS__);       \
		if (k_ >= 0 && (size_t)k_ < size - n)                    \
			n += (size_t)k_;                                 \
		out[n] = '\0';                                          \
	} while (0)
	if (st->return_path)
		ADD("Return-Path: <%s>\n", s->mailfrom);
	if (rcpt && st->delivered_to)
		ADD("Delivered-To: %s\n", rcpt);
	if (!rcpt && !shared && st->original_to)
		for (size_t i = 0; i < s->rcpt_count; i++)
			ADD("X-Original-To: %s\n", s->rcpttos[i]);
	if (st->received) {
		char helo[256], date[64], from[64], with[32], using[160];
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		header_safe(helo, sizeof(helo), s->seen_greeting[0] ? s->seen_greeting : "unknown");
		from_comment(st, s, from, sizeof(from));
		received_using(st, s, using, sizeof(using));
		/* hide_client: a roaming user's address stays out of the mail */
		int hide = st->hide_client && st->host->abi_minor >= 1 && s->auth_user;
		const char *via = strcmp(s->peer_addr, "unix") ? "" : " via UNIX socket";
		const char *one = rcpt ? rcpt : s->rcpt_count == 1 && !shared ? s->rcpttos[0] : NULL;
		ADD("Received: from %s%s%s%s\n%s\tby %s (smtpgate)%s with %s id %s%s%s%s;\n\t%s\n",
		    helo, hide ? "" : " (", hide ? "" : from, hide ? "" : ")", using, s->fqdn, via,
		    with_word(st, s, with, sizeof(with)), s->id, one ? "\n\tfor <" : "",
		    one ? one : "", one ? ">" : "", date);
	}
#undef ADD
	return n;
}

/* A piece of the message: on to every tmp/ file of it (made at the
   first piece).  A failure is kept for the final dot's answer. */
static enum smtpgate_verdict maildir_body(void *priv, const struct smtpgate_session *s,
					  const char *data, size_t len,
					  struct smtpgate_reply *reply)
{
	struct maildir_state *st = priv;
	(void)reply;
	if (!st->tx && maildir_tx_begin(st, s) < 0)
		return SMTPGATE_CONTINUE; /* answered at the dot: every piece is read anyway */
	maildir_tx_write(st, data, len);
	return SMTPGATE_CONTINUE;
}

/* The final dot: every copy into its new/, or none (4xx); on LMTP, each
   recipient's copy on its own, with its own reply. */
static enum smtpgate_verdict maildir_message(void *priv, const struct smtpgate_session *s,
					     const struct smtpgate_message *m,
					     struct smtpgate_reply *reply)
{
	struct maildir_state *st = priv;
	/* An empty message gives no piece: its files are made now. */
	if (!st->tx)
		maildir_tx_begin(st, s);
	return maildir_tx_finish(st, s, m, reply);
}

/* The message was refused or the client left: no file of it stays. */
static void maildir_reset(void *priv, const struct smtpgate_session *s)
{
	(void)s;
	maildir_tx_abort(priv);
}

static const struct smtpgate_plugin maildir_plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "maildir",
	.version = "1.0",
	.init = maildir_init,
	.fini = maildir_fini,
	.on_rcpt = maildir_rcpt,
	.on_message = maildir_message,
	.on_reset = maildir_reset,
	.on_body = maildir_body,
	.settings = maildir_settings,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	return &maildir_plugin;
}
