/*
 * maildir_deliver.c - one message into its Maildirs as it arrives, in
 * constant memory, through the host's durable-file service.
 *
 * At the first piece each copy's tmp/ file is made (its Maildir too, when
 * missing) and its headers written; each piece then goes to every file;
 * at the final dot each file is fsync'd and linked into its new/ under its
 * final name (,S= the size), each new/ fsync'd, and only then does the
 * client get its 250.  Nothing shows in new/ before the final dot, and a
 * reader never sees a partial file there.  All or nothing: if any copy
 * fails, the copies already in new/ are taken back and the client gets a
 * 4xx; a refused message or a client gone (on_reset) leaves no file in
 * any tmp/.  On an LMTP listener with a Maildir per recipient, which
 * answers each recipient (msg->rcpt_replies), each copy stands alone
 * instead: one that fails (a full quota, a broken Maildir) loses its
 * tmp/ file at once and gets its own 4xx, while the others go on and are
 * committed with their 250; recipients sharing a Maildir share its
 * outcome.  The first MAILDIR_STREAM_FILES_MAX distinct Maildirs get a
 * file each, with their own headers; any further ones share one more
 * file, hard-linked into each, whose headers name no recipient: so never
 * more than 2 * (MAILDIR_STREAM_FILES_MAX + 1) descriptors for files
 * (plus the template's base and one directory) while the message
 * arrives.  Where the shared file cannot be linked (a Maildir on another
 * file system: EXDEV; EMLINK; EPERM where there are no hard links), that
 * Maildir gets a copy instead (maildir_copy.c): read back in bounded
 * pieces from a Maildir already showing it, written to a new tmp/ file
 * through the same durable-file service and linked as the others, and
 * linked in turn into further Maildirs on its file system.  The copies
 * come after every own file is linked and closed, and one is open at a
 * time, so they stay within the bound.  A copy that fails is that
 * Maildir's failure like any other: the message's (all taken back, 4xx),
 * or on LMTP only its recipients'.  Below the template's fixed part no
 * symlink is ever followed (maildir_dir.c).
 */
#include "maildir_deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

#include "maildir_copy.h"

#define CONV_IN_BYTES 65536

/* One copy: its Maildir, and the file it is a name of. */
struct copy {
	char maildir[MAILDIR_PATH_MAX_BYTES];
	int same_as;       /* an earlier copy naming the same Maildir, or -1 */
	int file_of;       /* the copy whose file this one gets */
	struct smtpgate_file *file; /* its own file (NULL for the others) */
	char *headers;
	size_t headers_len;
	char name[MAILDIR_NAME_MAX_BYTES];     /* own file: its final name */
	unsigned long long size;               /* own file: its length at the dot */
	char tmp_path[MAILDIR_PATH_MAX_BYTES + MAILDIR_NAME_MAX_BYTES + 8];
	int new_made;
	int err;           /* LMTP, each on its own: errno of its failure; 0 */
};

struct maildir_tx {
	const struct smtpgate_host *host;
	const struct smtpgate_session *s;
	int each;              /* LMTP: an outcome per copy, not per message */
	size_t ncopies;
	struct copy *copies;
	char *headers;         /* MAILDIR_HEADERS_MAX_BYTES per own file */
	size_t nfiles;
	int shared;            /* the copy whose file further Maildirs share, or -1 */
	struct smtpgate_file *alt; /* the shared file copied (maildir_copy.c), or NULL */
	int alt_shown;         /* ... and linked into a new/ already */
	int base_fd;
	int failed;            /* what failed, where, errno */
	const char *what;
	char path[MAILDIR_PATH_MAX_BYTES + MAILDIR_NAME_MAX_BYTES];
	int err;
	unsigned long long body_len, body_lfs;
	char conv[2 * CONV_IN_BYTES];
};

static int tx_fail(struct maildir_tx *tx, struct copy *c, const char *what, const char *base,
		   const char *rel);
static void drop_file(struct maildir_tx *tx, struct copy *c);
static int open_sub(struct maildir_state *st, struct copy *c, const char *sub, int make,
		    struct maildir_tx *tx);
static size_t convert(const struct maildir_state *st, struct maildir_tx *tx, const char *p,
		      size_t len);
static int file_put(struct maildir_state *st, struct maildir_tx *tx, struct copy *c,
		    const char *p, size_t len);
static int make_file(struct maildir_state *st, struct maildir_tx *tx, struct copy *c);
static int plan_copy(struct maildir_state *st, const struct smtpgate_session *s,
		     struct maildir_tx *tx, size_t i);
static int make_alt(struct maildir_state *st, struct maildir_tx *tx, struct copy *c);
static int show_alt(struct maildir_state *st, struct maildir_tx *tx, struct copy *c,
		    int new_fd);
static int show_copy(struct maildir_state *st, struct maildir_tx *tx, struct copy *c);
static void take_back(struct maildir_state *st, const struct smtpgate_session *s,
		      struct maildir_tx *tx);
static enum smtpgate_verdict fail_reply(struct maildir_state *st, int err,
					struct smtpgate_reply *reply);
static enum smtpgate_verdict failure(struct maildir_state *st, const struct smtpgate_session *s,
				     struct maildir_tx *tx, struct smtpgate_reply *reply);
static void name_files(struct maildir_state *st, struct maildir_tx *tx);
static enum smtpgate_verdict answer_each(struct maildir_state *st,
					 const struct smtpgate_session *s,
					 const struct smtpgate_message *m,
					 struct smtpgate_reply *reply);
static void tx_end(struct maildir_state *st, int keep);

/* Record what failed, where (base, then rel), with errno; -1.  Copy c's
   own failure (NULL: the message's) when each copy stands alone: kept in
   c and logged now, as only its recipients' replies will tell it. */
static int tx_fail(struct maildir_tx *tx, struct copy *c, const char *what, const char *base,
		   const char *rel)
{
	int err = errno ? errno : EIO;
	if (tx->failed || (tx->each && c && c->err))
		return -1; /* the first failure is the one to tell */
	what = err == ELOOP ? "not following symlink" : what;
	snprintf(tx->path, sizeof(tx->path), "%s%s%s", base,
		 rel[0] && base[0] && base[strlen(base) - 1] != '/' ? "/" : "", rel);
	if (tx->each && c) {
		c->err = err;
		tx->host->log(SMTPGATE_LOG_WARNING, tx->s, "delivery failed: %s %s: %s (errno %d)",
			      what, tx->path, strerror(err), err);
		return -1;
	}
	tx->failed = 1;
	tx->err = err;
	tx->what = what;
	return -1;
}

/* Each copy on its own: c's file failed, so it goes now (its tmp/ name
   with it), and every copy that was to get that file fails with c. */
static void drop_file(struct maildir_tx *tx, struct copy *c)
{
	if (!tx->each || !c->file)
		return;
	tx->host->file_abort(c->file);
	c->file = NULL;
	for (size_t k = 0; k < tx->ncopies; k++) {
		struct copy *o = &tx->copies[k];
		if (o->same_as < 0 && &tx->copies[o->file_of] == c && !o->err)
			o->err = c->err;
	}
}

/* The copy's tmp/ (or new/), opened from the fixed part without following
   a symlink; with make, a missing Maildir is made first.  fd or -1. */
static int open_sub(struct maildir_state *st, struct copy *c, const char *sub, int make,
		    struct maildir_tx *tx)
{
	char rel[MAILDIR_PATH_MAX_BYTES + 8], bad[MAILDIR_PATH_MAX_BYTES + 8];
	const char *md = c->maildir + strlen(st->base);
	md += *md == '/';
	snprintf(rel, sizeof(rel), "%s%s%s", md, md[0] ? "/" : "", sub);
	int fd = maildir_dir_open(tx->base_fd, rel, &st->dirs, 0, bad, sizeof(bad));
	if (fd < 0 && errno == ENOENT && make) {
		/* A recipient's first message: make the Maildir. */
		if (maildir_dir_make_maildir(tx->base_fd, md, &st->dirs, bad, sizeof(bad)) < 0)
			return tx_fail(tx, c, "mkdir", st->base, bad);
		fd = maildir_dir_open(tx->base_fd, rel, &st->dirs, 0, bad, sizeof(bad));
	}
	return fd < 0 ? tx_fail(tx, c, "open", st->base, bad) : fd;
}

/* Text with LF line ends as it goes in the file (LF or CR LF) in
   tx->conv; len is at most CONV_IN_BYTES.  Its length. */
static size_t convert(const struct maildir_state *st, struct maildir_tx *tx, const char *p,
		      size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n' && st->crlf)
			tx->conv[n++] = '\r';
		tx->conv[n++] = p[i];
	}
	return n;
}

/* LF text into one copy's own file. */
static int file_put(struct maildir_state *st, struct maildir_tx *tx, struct copy *c,
		    const char *p, size_t len)
{
	while (len > 0) {
		size_t in = len < CONV_IN_BYTES ? len : CONV_IN_BYTES;
		if (st->host->file_write(c->file, tx->conv, convert(st, tx, p, in)) < 0) {
			tx_fail(tx, c, "write", c->tmp_path, "");
			drop_file(tx, c);
			return -1;
		}
		p += in;
		len -= in;
	}
	return 0;
}

/* The copy's own tmp/ file, with its headers.  Its name there has no
   size (not known yet); the final name gets ",S=" at the dot. */
static int make_file(struct maildir_state *st, struct maildir_tx *tx, struct copy *c)
{
	struct timeval tv;
	unsigned long long rnd = 0;
	gettimeofday(&tv, NULL);
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd ^= (unsigned long long)tv.tv_usec << 20 ^ (unsigned long long)st->seq;
	if (maildir_unique_name(c->name, sizeof(c->name), (long long)tv.tv_sec, (long)tv.tv_usec,
				(long)getpid(), ++st->seq, rnd, st->hostname, 0) < 0) {
		errno = ENAMETOOLONG;
		return tx_fail(tx, c, "name", c->maildir, "");
	}
	*strrchr(c->name, ',') = '\0'; /* ",S=0": the stem is the tmp/ name */
	snprintf(c->tmp_path, sizeof(c->tmp_path), "%s/tmp/%s", c->maildir, c->name);
	int tmp = open_sub(st, c, "tmp", 1, tx);
	if (tmp < 0)
		return -1;
	c->file = st->host->file_create(tmp, c->name, (unsigned int)st->file_mode);
	int saved = errno;
	close(tmp);
	if (!c->file)
		return errno = saved, tx_fail(tx, c, "write", c->tmp_path, "");
	return file_put(st, tx, c, c->headers, c->headers_len);
}

/* Copy i: its Maildir, and its own file or a share of one.  0 or -1. */
static int plan_copy(struct maildir_state *st, const struct smtpgate_session *s,
		     struct maildir_tx *tx, size_t i)
{
	struct copy *c = &tx->copies[i];
	const char *rcpt = st->per_recipient ? s->rcpttos[i] : NULL;
	const char *why;
	c->same_as = -1;
	if (!st->per_recipient)
		snprintf(c->maildir, sizeof(c->maildir), "%s", st->path);
	else if (maildir_expand(st->path, rcpt, c->maildir, sizeof(c->maildir), &why) < 0)
		return c->maildir[0] = '\0', errno = EINVAL, tx_fail(tx, c, "address", rcpt, "");
	/* Recipients that name the same Maildir (Bob@ and bob@) get one
	   copy, with the first one's Delivered-To. */
	for (size_t k = 0; k < i && c->same_as < 0; k++)
		if (strcmp(tx->copies[k].maildir, c->maildir) == 0)
			c->same_as = (int)k;
	if (c->same_as >= 0)
		return 0;
	if (tx->nfiles < MAILDIR_STREAM_FILES_MAX || tx->shared < 0) {
		int share = tx->nfiles == MAILDIR_STREAM_FILES_MAX;
		c->file_of = (int)i;
		c->headers = tx->headers + tx->nfiles * MAILDIR_HEADERS_MAX_BYTES;
		c->headers_len = maildir_headers(st, s, share ? NULL : rcpt, share, c->headers,
						 MAILDIR_HEADERS_MAX_BYTES);
		/* A copy whose file could not be made (each on its own) holds
		   no descriptor: the next one takes its place. */
		if (make_file(st, tx, c) < 0)
			return -1;
		tx->nfiles++;
		if (share)
			tx->shared = (int)i;
		return 0;
	}
	/* A share of the common file: its Maildir must be there at the dot. */
	c->file_of = tx->shared;
	int tmp = open_sub(st, c, "tmp", 1, tx);
	if (tmp < 0)
		return -1;
	close(tmp);
	return 0;
}

int maildir_tx_begin(struct maildir_state *st, const struct smtpgate_session *s)
{
	struct maildir_tx *tx = calloc(1, sizeof(*tx));
	if (!tx)
		abort(); /* as the core does: allocation failure ends the worker */
	st->tx = tx;
	tx->host = st->host;
	tx->s = s;
	/* LMTP answers each recipient (plugin ABI 1.1). */
	tx->shared = -1;
	tx->each = st->per_recipient && st->host->abi_minor >= 1 && s->lmtp && s->rcpt_count > 1;
	tx->ncopies = st->per_recipient ? s->rcpt_count : 1;
	tx->copies = calloc(tx->ncopies, sizeof(*tx->copies));
	tx->headers = malloc((MAILDIR_STREAM_FILES_MAX + 1) * MAILDIR_HEADERS_MAX_BYTES);
	if (!tx->copies || !tx->headers)
		abort();
	/* The fixed part is the sysadmin's: a symlink in it is followed. */
	tx->base_fd = open(st->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tx->base_fd < 0)
		return tx_fail(tx, NULL, "open", st->base, "");
	for (size_t i = 0; i < tx->ncopies && !tx->failed; i++)
		if (plan_copy(st, s, tx, i) < 0 && !tx->each)
			return -1;
	return tx->failed ? -1 : 0;
}

void maildir_tx_write(struct maildir_state *st, const char *p, size_t len)
{
	struct maildir_tx *tx = st->tx;
	if (!tx || tx->failed)
		return;
	tx->body_len += len;
	for (const char *e = p + len, *q = p; (q = memchr(q, '\n', (size_t)(e - q))); q++)
		tx->body_lfs++;
	for (size_t i = 0; i < tx->ncopies && !tx->failed; i++)
		if (tx->copies[i].file)
			file_put(st, tx, &tx->copies[i], p, len);
}

/* The shared file's content for c's Maildir, which that file cannot be
   linked into: read back from a Maildir already showing it (any copy is
   the same bytes) into a new file in c's tmp/, tx->alt.  0 or -1. */
static int make_alt(struct maildir_state *st, struct maildir_tx *tx, struct copy *c)
{
	const struct copy *f = &tx->copies[c->file_of];
	char stem[MAILDIR_NAME_MAX_BYTES];
	int src = -1;
	errno = ENOENT;
	for (size_t k = 0; k < tx->ncopies && src < 0; k++) {
		struct copy *o = &tx->copies[k];
		struct maildir_tx ignored = { .base_fd = tx->base_fd };
		int dir = o->new_made && o->file_of == c->file_of ? open_sub(st, o, "new", 0, &ignored)
								 : -1;
		if (dir >= 0) {
			src = maildir_copy_open(dir, f->name, f->size);
			close(dir);
		}
	}
	if (src < 0) {
		char where[MAILDIR_PATH_MAX_BYTES + 8];
		snprintf(where, sizeof(where), "%s/new", f->maildir);
		return tx_fail(tx, c, "read back", where, f->name);
	}
	/* In tmp/ under the stem of its final name, as the shared file was. */
	snprintf(stem, sizeof(stem), "%.*s", (int)strcspn(f->name, ","), f->name);
	int tmp = open_sub(st, c, "tmp", 1, tx);
	if (tmp >= 0) {
		tx->alt = maildir_copy_make(st->host, src, f->size, tmp, stem,
					    (unsigned int)st->file_mode, tx->conv, sizeof(tx->conv));
		int saved = errno;
		close(tmp);
		errno = saved;
		if (!tx->alt)
			tx_fail(tx, c, "copy", c->maildir, "tmp");
	}
	close(src);
	return tx->alt ? 0 : -1;
}

/* c's name in its new/ when the shared file cannot be linked there: the
   copy made for an earlier such Maildir if it links (the same file
   system), else a new copy; one copy open at a time.  0, or -1 with
   errno (a failure of the copy already told). */
static int show_alt(struct maildir_state *st, struct maildir_tx *tx, struct copy *c,
		    int new_fd)
{
	const char *name = tx->copies[c->file_of].name;
	if (tx->alt && st->host->file_commit(tx->alt, new_fd, name) == 0)
		return 0;
	if (tx->alt && !maildir_copy_cannot_link(errno))
		return -1;
	if (tx->alt) {
		int saved = errno;
		if (tx->alt_shown)
			st->host->file_close(tx->alt);
		else
			st->host->file_abort(tx->alt);
		errno = saved;
	}
	tx->alt = NULL;
	tx->alt_shown = 0;
	if (make_alt(st, tx, c) < 0)
		return -1;
	return st->host->file_commit(tx->alt, new_fd, name);
}

/* The copy's name in its new/: a link to the file it gets, the file
   fsync'd first and new/ after (host->file_commit); a copy of it where it
   cannot be linked.  A missing new/ is made: another worker delivering a
   recipient's first message may have made tmp/ and not yet new/ when
   this one found tmp/.  An own file that no other Maildir gets is closed
   once linked, so the copies made later stay within the bound. */
static int show_copy(struct maildir_state *st, struct maildir_tx *tx, struct copy *c)
{
	struct copy *f = &tx->copies[c->file_of];
	if (c->err)
		return -1; /* its own failure, already told */
	int new_fd = open_sub(st, c, "new", 1, tx);
	int rc = new_fd < 0 ? -1 : st->host->file_commit(f->file, new_fd, f->name);
	if (rc < 0 && new_fd >= 0 && f != c && maildir_copy_cannot_link(errno)) {
		rc = show_alt(st, tx, c, new_fd);
		tx->alt_shown |= rc == 0;
	}
	int saved = errno;
	if (new_fd >= 0)
		close(new_fd);
	if (f == c && c->file && c->file_of != tx->shared) {
		(rc == 0 ? st->host->file_close : st->host->file_abort)(c->file);
		c->file = NULL;
	}
	if (rc < 0 && new_fd >= 0) {
		char where[MAILDIR_PATH_MAX_BYTES + 8];
		snprintf(where, sizeof(where), "%s/new", c->maildir);
		return errno = saved, tx_fail(tx, c, "link", where, f->name);
	}
	c->new_made = rc == 0;
	return rc;
}

/* Undo: no copy of this message stays in any new/.  A copy a mail reader
   already took from new/ cannot be taken back: said at error level, as
   the client's retry will deliver it to that mailbox a second time. */
static void take_back(struct maildir_state *st, const struct smtpgate_session *s,
		      struct maildir_tx *tx)
{
	for (size_t i = 0; i < tx->ncopies; i++) {
		struct copy *c = &tx->copies[i];
		if (!c->new_made)
			continue;
		const char *name = tx->copies[c->file_of].name;
		struct maildir_tx ignored = { .base_fd = tx->base_fd };
		int new_fd = open_sub(st, c, "new", 0, &ignored);
		if (new_fd < 0 || unlinkat(new_fd, name, 0) < 0)
			st->host->log(SMTPGATE_LOG_ERROR, s,
				      "cannot take back %s/new/%s (%s): delivered although the "
				      "client is told to retry", c->maildir, name, strerror(errno));
		if (new_fd >= 0) {
			fsync(new_fd); /* the removal durable too, as far as we can */
			close(new_fd);
		}
		c->new_made = 0;
	}
}

/* The reply for a delivery that failed with err: 452 when out of room. */
static enum smtpgate_verdict fail_reply(struct maildir_state *st, int err,
					struct smtpgate_reply *reply)
{
	if (err == ENOSPC || err == EDQUOT)
		st->host->reply(reply, 452, "4.3.1", "Error: insufficient system storage");
	else
		st->host->reply(reply, 451, "4.3.0", "Error: local delivery failed");
	return SMTPGATE_TEMPFAIL;
}

/* The message's failure, logged and answered. */
static enum smtpgate_verdict failure(struct maildir_state *st, const struct smtpgate_session *s,
				     struct maildir_tx *tx, struct smtpgate_reply *reply)
{
	st->host->log(SMTPGATE_LOG_WARNING, s, "delivery failed: %s %s: %s (errno %d)", tx->what,
		      tx->path, strerror(tx->err), tx->err);
	return fail_reply(st, tx->err, reply);
}

/* The last line's end into each own file; then its final name, with the
   size of what it holds. */
static void name_files(struct maildir_state *st, struct maildir_tx *tx)
{
	for (size_t i = 0; i < tx->ncopies && !tx->failed; i++) {
		struct copy *c = &tx->copies[i];
		if (!c->file || file_put(st, tx, c, "\n", 1) < 0)
			continue;
		unsigned long long size = c->headers_len + tx->body_len + 1;
		if (st->crlf) { /* each LF went out as CR LF */
			size += tx->body_lfs + 1;
			for (const char *h = c->headers; (h = memchr(h, '\n', c->headers_len -
								(size_t)(h - c->headers))); h++)
				size++;
		}
		size_t n = strlen(c->name);
		snprintf(c->name + n, sizeof(c->name) - n, ",S=%llu", size);
		c->size = size;
	}
}

/* Each copy on its own (LMTP): a failed one's recipients get its 4xx,
   the others the message's 250; a recipient sharing an earlier one's
   Maildir shares its outcome.  With every copy failed, the message fails
   too; with no reply per recipient to give (never from an LMTP
   listener), any failure is the message's and what was shown goes. */
static enum smtpgate_verdict answer_each(struct maildir_state *st,
					 const struct smtpgate_session *s,
					 const struct smtpgate_message *m,
					 struct smtpgate_reply *reply)
{
	struct maildir_tx *tx = st->tx;
	int per_rcpt = st->host->abi_minor >= 1 && m && m->rcpt_reply_count == tx->ncopies;
	int first_err = 0;
	size_t made = 0;
	for (size_t i = 0; i < tx->ncopies; i++) {
		struct copy *c = &tx->copies[i];
		int err = c->same_as >= 0 ? tx->copies[c->same_as].err : c->err;
		made += c->new_made;
		if (!err)
			continue;
		first_err = first_err ? first_err : err;
		if (per_rcpt)
			fail_reply(st, err, m->rcpt_replies[i]);
	}
	if (!first_err)
		return SMTPGATE_CONTINUE;
	if (!per_rcpt)
		take_back(st, s, tx);
	return per_rcpt && made ? SMTPGATE_CONTINUE : fail_reply(st, first_err, reply);
}

enum smtpgate_verdict maildir_tx_finish(struct maildir_state *st,
					const struct smtpgate_session *s,
					const struct smtpgate_message *m,
					struct smtpgate_reply *reply)
{
	struct maildir_tx *tx = st->tx;
	name_files(st, tx);
	/* Each recipient's copy, in rcpttos order. */
	for (size_t i = 0; i < tx->ncopies && !tx->failed; i++)
		if (tx->copies[i].same_as < 0)
			show_copy(st, tx, &tx->copies[i]);
	enum smtpgate_verdict v = SMTPGATE_CONTINUE;
	if (tx->failed) {
		v = failure(st, s, tx, reply);
		take_back(st, s, tx);
	} else if (tx->each) {
		v = answer_each(st, s, m, reply);
	}
	for (size_t i = 0; i < tx->ncopies; i++)
		if (tx->copies[i].new_made)
			st->host->log(SMTPGATE_LOG_INFO, s, "delivered=%s/new/%s",
				      tx->copies[i].maildir, tx->copies[tx->copies[i].file_of].name);
	tx_end(st, !tx->failed);
	return v;
}

/* The transaction's files closed (kept where committed, else removed
   from tmp/) and its state freed. */
static void tx_end(struct maildir_state *st, int keep)
{
	struct maildir_tx *tx = st->tx;
	if (!tx)
		return;
	for (size_t i = 0; i < tx->ncopies; i++)
		if (tx->copies[i].file) {
			if (keep)
				st->host->file_close(tx->copies[i].file);
			else
				st->host->file_abort(tx->copies[i].file);
		}
	if (tx->alt) {
		if (keep && tx->alt_shown)
			st->host->file_close(tx->alt);
		else
			st->host->file_abort(tx->alt);
	}
	if (tx->base_fd >= 0)
		close(tx->base_fd);
	free(tx->headers);
	free(tx->copies);
	free(tx);
	st->tx = NULL;
}

void maildir_tx_abort(struct maildir_state *st)
{
	tx_end(st, 0);
}
