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

#include "maildir_name.h"

#define WRITE_BUF_BYTES 65536
#define HEADERS_MAX_BYTES 8192

struct maildir_state {
	const struct smtpgate_host *host;
	char path[MAILDIR_PATH_MAX_BYTES]; /* the template; the Maildir if not per recipient */
	char base[MAILDIR_PATH_MAX_BYTES]; /* maildir_template_base(): made at init */
	int per_recipient;
	mode_t dir_mode, file_mode;
	mode_t umask; /* the process's, read at init: modes it clears are set by chmod */
	int crlf;
	int return_path, original_to, delivered_to, received;
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

static int sync_dir(const char *dir);

/* mkdir, then chmod when the umask took bits of mode away: a created
   directory has exactly the configured mode.  An existing one is fine.
   A new directory is on disk only once its entry in the parent is: the
   parent is synced, or the first message to a new Maildir could be
   acknowledged and then lost with the whole Maildir in a power cut.  With
   sync_existing the parent is synced even when the directory was there:
   whoever made it (a worker that failed or died before its sync, or one
   still between mkdir and sync) may not have synced it. */
static int make_dir(const char *p, mode_t mode, mode_t mask, int sync_existing)
{
	if (mkdir(p, mode) < 0) {
		if (errno != EEXIST || !sync_existing)
			return errno == EEXIST ? 0 : -1;
	} else if ((mode & mask) && chmod(p, mode) < 0) {
		return -1;
	}
	char parent[MAILDIR_PATH_MAX_BYTES];
	const char *slash = strrchr(p, '/');
	size_t len = slash ? (size_t)(slash - p) : 0;
	if (len >= sizeof(parent))
		return errno = ENAMETOOLONG, -1;
	memcpy(parent, p, len);
	parent[len] = '\0';
	return sync_dir(slash ? (len ? parent : "/") : ".");
}

/* mkdir -p with mode; an existing directory is fine.  The entries of the
   directories below the first sync_from bytes of path are synced whether
   they were made now or found. */
static int make_dirs(const char *path, mode_t mode, mode_t mask, size_t sync_from)
{
	char p[MAILDIR_PATH_MAX_BYTES];
	size_t len = strlen(path);
	if (len >= sizeof(p))
		return errno = ENAMETOOLONG, -1;
	memcpy(p, path, len + 1);
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (make_dir(p, mode, mask, (size_t)(s - p) > sync_from) < 0)
				return -1;
			*s = c;
			if (!c)
				break;
		}
	}
	return 0;
}

/* The Maildir and its tmp, new and cur; the directories below base are
   synced into their parents even when they were there already. */
static int make_maildir(const char *path, const char *base, mode_t mode, mode_t mask)
{
	char sub[MAILDIR_PATH_MAX_BYTES + 8];
	static const char *const parts[] = { "tmp", "new", "cur" };
	if (make_dirs(path, mode, mask, strlen(base)) < 0)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		snprintf(sub, sizeof(sub), "%s/%s", path, parts[i]);
		if (make_dir(sub, mode, mask, 1) < 0)
			return -1;
	}
	return 0;
}

/* At init, as root: the fixed part of the template (the whole Maildir in
   single-folder mode) exists and belongs to user/group when set. */
static int prepare_base(struct maildir_state *st, const struct smtpgate_cfg *cfg)
{
	const struct smtpgate_host *host = st->host;
	const char *user = NULL, *group = NULL;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	if (host->cfg_string(cfg, "user", &user) < 0 || host->cfg_string(cfg, "group", &group) < 0)
		return -1;
	if (user) {
		struct passwd *pw = getpwnam(user);
		if (!pw) {
			host->cfg_error(cfg, "user", "no such user \"%s\"", user);
			return -1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (group) {
		struct group *gr = getgrnam(group);
		if (!gr) {
			host->cfg_error(cfg, "group", "no such group \"%s\"", group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	const char *base = st->base;
	/* At init the base itself is the sysadmin's to have made durable. */
	int rc = st->per_recipient ? make_dirs(base, st->dir_mode, st->umask, strlen(base))
				   : make_maildir(base, base, st->dir_mode, st->umask);
	if (rc < 0) {
		host->cfg_error(cfg, "path", "cannot create \"%s\": %s", base, strerror(errno));
		return -1;
	}
	if ((user || group) && geteuid() == 0) {
		static const char *const parts[] = { "", "/tmp", "/new", "/cur" };
		for (size_t i = 0; i < (st->per_recipient ? 1u : 4u); i++) {
			char p[MAILDIR_PATH_MAX_BYTES + 8];
			snprintf(p, sizeof(p), "%s%s", base, parts[i]);
			if (chown(p, uid, gid) < 0) {
				host->cfg_error(cfg, "user", "cannot chown \"%s\": %s", p, strerror(errno));
				return -1;
			}
		}
	}
	return 0;
}

static int maildir_init(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
			void **priv_out)
{
	struct maildir_state *st = calloc(1, sizeof(*st));
	const char *path = NULL, *ending = "lf", *why = "too long";
	if (!st)
		return -1;
	st->host = host;
	st->dir_mode = 0700;
	st->file_mode = 0600;
	st->return_path = st->original_to = st->delivered_to = st->received = 1;
	if (host->cfg_string(cfg, "path", &path) < 0 || host->cfg_string(cfg, "line_ending", &ending) < 0 ||
	    parse_mode(host, cfg, "dir_mode", &st->dir_mode) < 0 ||
	    parse_mode(host, cfg, "file_mode", &st->file_mode) < 0 ||
	    host->cfg_bool(cfg, "return_path", &st->return_path) < 0 ||
	    host->cfg_bool(cfg, "original_to", &st->original_to) < 0 ||
	    host->cfg_bool(cfg, "delivered_to", &st->delivered_to) < 0 ||
	    host->cfg_bool(cfg, "received", &st->received) < 0)
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
	st->umask = umask(0);
	umask(st->umask);
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
		ADD("Received: from %s ([%s])\n\tby %s (smtpgate) with %s id %s%s%s%s;\n\t%s\n", helo,
		    s->peer_addr, s->fqdn, with, s->id, one ? "\n\tfor <" : "", one ? one : "",
		    one ? ">" : "", date);
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

/* fsync a directory by path. */
static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* tmp/NAME: created, written whole, fsync'd.  -1 with errno. */
static int write_tmp(struct maildir_state *st, struct copy *c, const struct smtpgate_message *m,
		     struct writer *w)
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
				(long)getpid(), ++st->seq, rnd, st->hostname, size) < 0)
		return errno = ENAMETOOLONG, -1;
	snprintf(c->tmp_path, sizeof(c->tmp_path), "%s/tmp/%s", c->maildir, c->name);
	snprintf(c->new_path, sizeof(c->new_path), "%s/new/%s", c->maildir, c->name);

	w->fd = open(c->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st->file_mode);
	if (w->fd < 0 && errno == ENOENT) {
		/* A recipient's first message: make the Maildir. */
		if (make_maildir(c->maildir, st->base, st->dir_mode, st->umask) < 0)
			return -1;
		w->fd = open(c->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st->file_mode);
	}
	if (w->fd < 0)
		return -1;
	c->tmp_made = 1;
	if ((st->file_mode & st->umask) && fchmod(w->fd, st->file_mode) < 0) {
		int saved = errno;
		close(w->fd);
		return errno = saved, -1;
	}
	w->crlf = st->crlf;
	w->len = 0;
	int rc = writer_put(w, c->headers, c->headers_len) < 0 || writer_put(w, m->data, m->len) < 0 ||
		 writer_put(w, "\n", 1) < 0 || writer_flush(w) < 0 || fsync(w->fd) < 0 ? -1 : 0;
	int saved = errno;
	if (close(w->fd) < 0 && rc == 0) {
		saved = errno;
		rc = -1;
	}
	errno = saved;
	return rc;
}

/* Undo: no file of this message stays in any tmp/ or new/.  A copy a mail
   reader already took from new/ cannot be taken back: said at error level,
   as the client's retry will deliver it to that mailbox a second time. */
static void remove_copies(struct maildir_state *st, const struct smtpgate_session *s,
			  struct copy *copies, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (copies[i].new_made && unlink(copies[i].new_path) < 0)
			st->host->log(SMTPGATE_LOG_ERROR, s,
				      "cannot take back %s (%s): delivered although the client is "
				      "told to retry",
				      copies[i].new_path, strerror(errno));
		if (copies[i].tmp_made)
			unlink(copies[i].tmp_path);
		copies[i].new_made = copies[i].tmp_made = 0;
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

static enum smtpgate_verdict maildir_message(void *priv, const struct smtpgate_session *s,
					     const struct smtpgate_message *m,
					     struct smtpgate_reply *reply)
{
	struct maildir_state *st = priv;
	size_t ncopies = st->per_recipient ? s->rcpt_count : 1;
	struct copy *copies = calloc(ncopies, sizeof(*copies));
	struct writer *w = malloc(sizeof(*w));
	char *headers = malloc(ncopies * HEADERS_MAX_BYTES);
	enum smtpgate_verdict v = SMTPGATE_CONTINUE;
	size_t made = 0;
	if (!copies || !w || !headers)
		abort(); /* as the core does: allocation failure ends the worker */
	for (size_t i = 0; i < ncopies; i++)
		copies[i].new_dir_fd = -1;

	for (size_t i = 0; i < ncopies; i++) {
		struct copy *c = &copies[i];
		const char *rcpt = st->per_recipient ? s->rcpttos[i] : NULL;
		const char *why;
		if (st->per_recipient) {
			if (maildir_expand(st->path, rcpt, c->maildir, sizeof(c->maildir), &why) < 0) {
				v = failure(st, s, "address", rcpt, EINVAL, reply);
				goto out;
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
		if (duplicate)
			continue;
		if (write_tmp(st, c, m, w) < 0) {
			v = failure(st, s, "write", c->tmp_path[0] ? c->tmp_path : c->maildir, errno,
				    reply);
			goto out;
		}
		made = i + 1;
	}
	/* Every copy is on disk.  Before the first one shows, every new/ is
	   opened: a missing or broken new/ fails the message while nothing of
	   it can have been seen by a mail reader. */
	for (size_t i = 0; i < made; i++) {
		struct copy *c = &copies[i];
		char dir[MAILDIR_PATH_MAX_BYTES + 8];
		if (!c->tmp_made)
			continue;
		snprintf(dir, sizeof(dir), "%s/new", c->maildir);
		c->new_dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (c->new_dir_fd < 0) {
			v = failure(st, s, "open", dir, errno, reply);
			goto out;
		}
	}
	/* Now make them visible, then durable.  A rename is atomic: new/ never
	   shows a partial file.  If a later copy fails, this one is unlinked
	   from new/ again. */
	for (size_t i = 0; i < made; i++) {
		struct copy *c = &copies[i];
		if (!c->tmp_made)
			continue;
		if (renameat(AT_FDCWD, c->tmp_path, c->new_dir_fd, c->name) < 0) {
			v = failure(st, s, "rename", c->new_path, errno, reply);
			goto out;
		}
		c->tmp_made = 0;
		c->new_made = 1;
	}
	for (size_t i = 0; i < made; i++) {
		struct copy *c = &copies[i];
		if (c->new_made && fsync(c->new_dir_fd) < 0) {
			v = failure(st, s, "fsync", c->new_path, errno, reply);
			goto out;
		}
	}
	for (size_t i = 0; i < made; i++)
		if (copies[i].new_made)
			st->host->log(SMTPGATE_LOG_INFO, s, "delivered=%s", copies[i].new_path);
out:
	if (v == SMTPGATE_TEMPFAIL) {
		remove_copies(st, s, copies, ncopies);
		/* Make the removal durable too, as far as we can. */
		for (size_t i = 0; i < ncopies; i++)
			if (copies[i].maildir[0]) {
				char dir[MAILDIR_PATH_MAX_BYTES + 8];
				snprintf(dir, sizeof(dir), "%s/new", copies[i].maildir);
				sync_dir(dir);
			}
	}
	for (size_t i = 0; i < ncopies; i++)
		if (copies[i].new_dir_fd >= 0)
			close(copies[i].new_dir_fd);
	free(headers);
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
