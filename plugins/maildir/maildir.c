/*
 * maildir.c - the "maildir" handler: durable delivery into Maildirs.
 *
 * A 250 means the message survives a power cut: each copy is written to
 * tmp/ under a unique name, fsync'd, renamed into new/, and new/ is
 * fsync'd; only then does the client get its 250.
 * A reader never sees a partial file in new/.  One message to several
 * recipients is all or nothing: if any copy fails, the copies already in
 * new/ are removed again and the client gets a 4xx to retry.
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

#include "maildir_dir.h"
#include "maildir_name.h"

#define WRITE_BUF_BYTES 65536
#define HEADERS_MAX_BYTES 8192

struct maildir_state {
	const struct smtpgate_host *host;
	char path[MAILDIR_PATH_MAX_BYTES]; /* the template; the Maildir if not per recipient */
	char base[MAILDIR_PATH_MAX_BYTES]; /* maildir_template_base(): made at init */
	int per_recipient;
	mode_t file_mode;
	/* dir_mode, and the process's umask read at init (modes it clears are
	   set by chmod), for files too */
	struct maildir_dir_mode dirs;
	int crlf;
	int return_path, original_to, delivered_to, received;
	int hide_client;   /* Received: no address for an AUTH'd client */
	char hostname[128];
	unsigned long seq;
};

/* One stored copy: its Maildir, its own headers, and what was made. */
struct copy {
	char maildir[MAILDIR_PATH_MAX_BYTES];
	char *headers;
	size_t headers_len;
	char name[MAILDIR_NAME_MAX_BYTES];
	char tmp_path[MAILDIR_PATH_MAX_BYTES + MAILDIR_NAME_MAX_BYTES];
	char new_path[MAILDIR_PATH_MAX_BYTES + MAILDIR_NAME_MAX_BYTES];
	int tmp_made, new_made;
	int new_dir_fd; /* its new/, opened before any copy is renamed there; -1 */
};

/* One message's delivery: the fixed part it starts from, and what failed. */
struct delivery {
	int base_fd;
	const char *what;
	char path[MAILDIR_PATH_MAX_BYTES + MAILDIR_NAME_MAX_BYTES];
	int err;
};

struct writer {
	int fd;
	int crlf;
	size_t len;
	char buf[WRITE_BUF_BYTES];
};

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

/* The headers one copy starts with (LF line ends). */
static size_t build_headers(const struct maildir_state *st, const struct smtpgate_session *s,
			    const char *rcpt, char *out, size_t size)
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
	if (!rcpt && st->original_to)
		for (size_t i = 0; i < s->rcpt_count; i++)
			ADD("X-Original-To: %s\n", s->rcpttos[i]);
	if (st->received) {
		char helo[256], date[64];
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		header_safe(helo, sizeof(helo), s->seen_greeting[0] ? s->seen_greeting : "unknown");
		const char *with = s->smtputf8 ? "UTF8SMTP" : s->extended_smtp ? "ESMTP" : "SMTP";
		const char *one = rcpt ? rcpt : s->rcpt_count == 1 ? s->rcpttos[0] : NULL;
		int hide = st->hide_client && s->auth_user;
		ADD("Received: from %s%s%s%s\n\tby %s (smtpgate) with %s id %s%s%s%s;\n\t%s\n", helo,
		    hide ? "" : " ([", hide ? "" : s->peer_addr, hide ? "" : "])", s->fqdn, with, s->id,
		    one ? "\n\tfor <" : "", one ? one : "", one ? ">" : "", date);
	}
#undef ADD
	return n;
}

static int writer_flush(struct writer *w)
{
	const char *p = w->buf;
	while (w->len > 0) {
		ssize_t k = write(w->fd, p, w->len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		w->len -= (size_t)k;
	}
	return 0;
}

/* Text with LF line ends, written as LF or CR LF. */
static int writer_put(struct writer *w, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (w->len + 2 > sizeof(w->buf) && writer_flush(w) < 0)
			return -1;
		if (p[i] == '\n' && w->crlf)
			w->buf[w->len++] = '\r';
		w->buf[w->len++] = p[i];
	}
	return 0;
}

static size_t count_lf(const char *p, size_t len)
{
	size_t n = 0;
	for (const char *e = p + len; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		n++;
	return n;
}

/* Record what failed, where (the fixed part, then rel), with errno; -1. */
static int delivery_fail(struct delivery *dl, const char *what, const char *base, const char *rel)
{
	dl->err = errno;
	dl->what = dl->err == ELOOP ? "not following symlink" : what;
	snprintf(dl->path, sizeof(dl->path), "%s%s%s", base,
		 rel[0] && base[strlen(base) - 1] != '/' ? "/" : "", rel);
	return -1;
}

/* The copy's Maildir below the fixed part: "" in single-folder mode. */
static const char *copy_rel(const struct maildir_state *st, const struct copy *c)
{
	const char *rel = c->maildir + strlen(st->base);
	return rel + (*rel == '/');
}

/* The copy's tmp/ (or new/), opened from the fixed part without following
   a symlink; with make, a missing Maildir is made first.  fd or -1. */
static int open_sub(struct maildir_state *st, struct delivery *dl, const struct copy *c,
		    const char *sub, int make)
{
	char rel[MAILDIR_PATH_MAX_BYTES + 8], bad[MAILDIR_PATH_MAX_BYTES + 8];
	const char *md = copy_rel(st, c);
	snprintf(rel, sizeof(rel), "%s%s%s", md, md[0] ? "/" : "", sub);
	int fd = maildir_dir_open(dl->base_fd, rel, &st->dirs, 0, bad, sizeof(bad));
	if (fd < 0 && errno == ENOENT && make) {
		/* A recipient's first message: make the Maildir. */
		if (maildir_dir_make_maildir(dl->base_fd, md, &st->dirs, bad, sizeof(bad)) < 0)
			return delivery_fail(dl, "mkdir", st->base, bad);
		fd = maildir_dir_open(dl->base_fd, rel, &st->dirs, 0, bad, sizeof(bad));
	}
	return fd < 0 ? delivery_fail(dl, "open", st->base, bad) : fd;
}

/* The file's bytes: headers, data, a final LF; fsync'd and closed. */
static int write_file(struct maildir_state *st, struct copy *c, const struct smtpgate_message *m,
		      struct writer *w)
{
	int rc = 0;
	if ((st->file_mode & st->dirs.umask) && fchmod(w->fd, st->file_mode) < 0)
		rc = -1;
	w->crlf = st->crlf;
	w->len = 0;
	if (rc == 0)
		rc = writer_put(w, c->headers, c->headers_len) < 0 ||
			     writer_put(w, m->data, m->len) < 0 || writer_put(w, "\n", 1) < 0 ||
			     writer_flush(w) < 0 || fsync(w->fd) < 0 ? -1 : 0;
	int saved = errno;
	if (close(w->fd) < 0 && rc == 0) {
		saved = errno;
		rc = -1;
	}
	errno = saved;
	return rc;
}

/* tmp/NAME: created (never through a symlink), written whole, fsync'd. */
static int write_tmp(struct maildir_state *st, struct delivery *dl, struct copy *c,
		     const struct smtpgate_message *m, struct writer *w)
{
	struct timeval tv;
	unsigned long long rnd = 0;
	gettimeofday(&tv, NULL);
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd ^= (unsigned long long)tv.tv_usec << 20 ^ (unsigned long long)st->seq;
	size_t size = c->headers_len + m->len + 1;
	if (st->crlf)
		size += count_lf(c->headers, c->headers_len) + count_lf(m->data, m->len) + 1;
	if (maildir_unique_name(c->name, sizeof(c->name), (long long)tv.tv_sec, (long)tv.tv_usec,
				(long)getpid(), ++st->seq, rnd, st->hostname, size) < 0) {
		errno = ENAMETOOLONG;
		return delivery_fail(dl, "name", c->maildir, "");
	}
	snprintf(c->tmp_path, sizeof(c->tmp_path), "%s/tmp/%s", c->maildir, c->name);
	snprintf(c->new_path, sizeof(c->new_path), "%s/new/%s", c->maildir, c->name);

	int tmp = open_sub(st, dl, c, "tmp", 1);
	if (tmp < 0)
		return -1;
	w->fd = openat(tmp, c->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		       st->file_mode);
	int saved = errno;
	close(tmp);
	if (w->fd < 0)
		return errno = saved, delivery_fail(dl, "write", c->tmp_path, "");
	c->tmp_made = 1;
	if (write_file(st, c, m, w) < 0)
		return delivery_fail(dl, "write", c->tmp_path, "");
	return 0;
}

/* Undo: no file of this message stays in any tmp/ or new/.  A copy a mail
   reader already took from new/ cannot be taken back: said at error level,
   as the client's retry will deliver it to that mailbox a second time. */
static void remove_copies(struct maildir_state *st, const struct smtpgate_session *s,
			  struct delivery *dl, struct copy *copies, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct copy *c = &copies[i];
		if (c->new_made && unlinkat(c->new_dir_fd, c->name, 0) < 0)
			st->host->log(SMTPGATE_LOG_ERROR, s,
				      "cannot take back %s (%s): delivered although the client is "
				      "told to retry",
				      c->new_path, strerror(errno));
		if (c->tmp_made) {
			struct delivery ignored = *dl;
			int tmp = open_sub(st, &ignored, c, "tmp", 0);
			if (tmp >= 0) {
				unlinkat(tmp, c->name, 0);
				close(tmp);
			}
		}
		c->new_made = c->tmp_made = 0;
		/* Make the removal durable too, as far as we can. */
		if (c->new_dir_fd >= 0)
			fsync(c->new_dir_fd);
	}
}

static enum smtpgate_verdict failure(struct maildir_state *st, const struct smtpgate_session *s,
				     const char *what, const char *path, int err,
				     struct smtpgate_reply *reply)
{
	st->host->log(SMTPGATE_LOG_WARNING, s, "delivery failed: %s %s: %s (errno %d)", what, path,
		      strerror(err), err);
	if (err == ENOSPC || err == EDQUOT)
		st->host->reply(reply, 452, "4.3.1", "Error: insufficient system storage");
	else
		st->host->reply(reply, 451, "4.3.0", "Error: local delivery failed");
	return SMTPGATE_TEMPFAIL;
}

/* Every copy written to its tmp/; *made_out is how many copies were tried. */
static int write_copies(struct maildir_state *st, const struct smtpgate_session *s,
			const struct smtpgate_message *m, struct delivery *dl,
			struct copy *copies, size_t ncopies, char *headers, struct writer *w)
{
	for (size_t i = 0; i < ncopies; i++) {
		struct copy *c = &copies[i];
		const char *rcpt = st->per_recipient ? s->rcpttos[i] : NULL;
		const char *why;
		if (st->per_recipient) {
			if (maildir_expand(st->path, rcpt, c->maildir, sizeof(c->maildir), &why) < 0) {
				errno = EINVAL;
				return delivery_fail(dl, "address", rcpt, "");
			}
		} else {
			snprintf(c->maildir, sizeof(c->maildir), "%s", st->path);
		}
		c->headers = headers + i * HEADERS_MAX_BYTES;
		c->headers_len = build_headers(st, s, rcpt, c->headers, HEADERS_MAX_BYTES);
		/* Recipients that name the same Maildir (Bob@ and bob@) get one
		   copy, with the first one's Delivered-To. */
		int duplicate = 0;
		for (size_t k = 0; k < i && !duplicate; k++)
			duplicate = strcmp(copies[k].maildir, c->maildir) == 0;
		if (!duplicate && write_tmp(st, dl, c, m, w) < 0)
			return -1;
	}
	return 0;
}

/* Every copy on disk: open each new/ before the first one shows, so a
   missing, broken or symlinked new/ fails the message while nothing of it
   can have been seen by a mail reader; then rename them all into new/
   (atomic: new/ never shows a partial file) and make that durable. */
static int show_copies(struct maildir_state *st, struct delivery *dl, struct copy *copies,
		       size_t ncopies)
{
	for (size_t i = 0; i < ncopies; i++)
		if (copies[i].tmp_made &&
		    (copies[i].new_dir_fd = open_sub(st, dl, &copies[i], "new", 0)) < 0)
			return -1;
	for (size_t i = 0; i < ncopies; i++) {
		struct copy *c = &copies[i];
		if (!c->tmp_made)
			continue;
		int tmp = open_sub(st, dl, c, "tmp", 0);
		if (tmp < 0)
			return -1;
		int rc = renameat(tmp, c->name, c->new_dir_fd, c->name);
		int saved = errno;
		close(tmp);
		if (rc < 0)
			return errno = saved, delivery_fail(dl, "rename", c->new_path, "");
		c->tmp_made = 0;
		c->new_made = 1;
	}
	for (size_t i = 0; i < ncopies; i++)
		if (copies[i].new_made && fsync(copies[i].new_dir_fd) < 0)
			return delivery_fail(dl, "fsync", copies[i].new_path, "");
	return 0;
}

static enum smtpgate_verdict maildir_message(void *priv, const struct smtpgate_session *s,
					     const struct smtpgate_message *m,
					     struct smtpgate_reply *reply)
{
	struct maildir_state *st = priv;
	size_t ncopies = st->per_recipient ? s->rcpt_count : 1;
	struct copy *copies = calloc(ncopies, sizeof(*copies));
	struct writer *w = malloc(sizeof(*w));
	struct delivery *dl = malloc(sizeof(*dl));
	char *headers = malloc(ncopies * HEADERS_MAX_BYTES);
	enum smtpgate_verdict v = SMTPGATE_CONTINUE;
	if (!copies || !w || !dl || !headers)
		abort(); /* as the core does: allocation failure ends the worker */
	for (size_t i = 0; i < ncopies; i++)
		copies[i].new_dir_fd = -1;
	/* The fixed part is the sysadmin's: a symlink in it is followed. */
	dl->base_fd = open(st->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if ((dl->base_fd < 0 && delivery_fail(dl, "open", st->base, "") < 0) ||
	    write_copies(st, s, m, dl, copies, ncopies, headers, w) < 0 ||
	    show_copies(st, dl, copies, ncopies) < 0) {
		v = failure(st, s, dl->what, dl->path, dl->err, reply);
		remove_copies(st, s, dl, copies, ncopies);
	} else {
		for (size_t i = 0; i < ncopies; i++)
			if (copies[i].new_made)
				st->host->log(SMTPGATE_LOG_INFO, s, "delivered=%s", copies[i].new_path);
	}
	for (size_t i = 0; i < ncopies; i++)
		if (copies[i].new_dir_fd >= 0)
			close(copies[i].new_dir_fd);
	if (dl->base_fd >= 0)
		close(dl->base_fd);
	free(headers);
	free(dl);
	free(w);
	free(copies);
	return v;
}

static const struct smtpgate_plugin maildir_plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "maildir",
	.version = "1.0",
	.init = maildir_init,
	.fini = maildir_fini,
	.on_rcpt = maildir_rcpt,
	.on_message = maildir_message,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	return &maildir_plugin;
}
