/*
 * abi10.c - a plugin built against the ABI 1.0 header (kept beside it in
 * tests/plugins/abi10/smtpgate/plugin.h, as it was released), to show
 * that a 1.0 plugin loads and works unchanged under a newer core.
 *
 * Its descriptor is copied to the very end of a page whose next page is
 * mapped with no access, so a core that read one byte past the 1.0
 * descriptor (an appended hook, the settings table) would crash the check
 * at once instead of reading whatever happens to follow.  It uses every
 * 1.0 hook and a command of its own, logs each hook, and delivers each
 * message by appending it to the file named by `output` in its group.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <smtpgate/plugin.h>

#if SMTPGATE_ABI_MINOR != 0
#error "abi10.c must be built against the 1.0 header in tests/plugins/abi10"
#endif

static const struct smtpgate_host *host;
static int out_fd = -1;

static int abi10_init(const struct smtpgate_host *h, const struct smtpgate_cfg *cfg,
		      void **priv_out)
{
	const char *output = NULL;
	host = h;
	*priv_out = NULL;
	if (h->cfg_string(cfg, "output", &output) < 0)
		return -1;
	if (!output) {
		h->cfg_error(cfg, "output", "needed");
		return -1;
	}
	out_fd = open(output, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (out_fd < 0) {
		h->cfg_error(cfg, "output", "cannot open \"%s\": %s", output, strerror(errno));
		return -1;
	}
	h->log(SMTPGATE_LOG_INFO, NULL, "abi10 init host_abi=%u.%u", h->abi_major, h->abi_minor);
	return 0;
}

static void abi10_fini(void *priv)
{
	(void)priv;
	if (out_fd >= 0)
		close(out_fd);
}

static enum smtpgate_verdict abi10_connect(void *priv, const struct smtpgate_session *s,
					   struct smtpgate_reply *reply)
{
	(void)priv;
	(void)reply;
	host->log(SMTPGATE_LOG_INFO, s, "abi10 hook=on_connect peer=%s", s->peer_addr);
	return SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict abi10_rcpt(void *priv, const struct smtpgate_session *s,
					const char *address, struct smtpgate_reply *reply)
{
	(void)priv;
	host->log(SMTPGATE_LOG_INFO, s, "abi10 hook=on_rcpt rcpt=%s", address);
	if (strncmp(address, "nobody@", 7) == 0) {
		host->reply(reply, 550, "5.1.1", "no such user");
		return SMTPGATE_REJECT;
	}
	return SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict abi10_message(void *priv, const struct smtpgate_session *s,
					   const struct smtpgate_message *m,
					   struct smtpgate_reply *reply)
{
	char head[512];
	(void)priv;
	int n = snprintf(head, sizeof(head), "From %s to %zu recipient(s)\n", s->mailfrom,
			 s->rcpt_count);
	if (n < 0 || (size_t)n >= sizeof(head) || write(out_fd, head, (size_t)n) != n ||
	    write(out_fd, m->data, m->len) != (ssize_t)m->len || write(out_fd, "\n.\n", 3) != 3) {
		host->reply(reply, 451, "4.3.0", "cannot write");
		return SMTPGATE_TEMPFAIL;
	}
	host->log(SMTPGATE_LOG_INFO, s, "abi10 hook=on_message len=%zu", m->len);
	host->reply(reply, 250, "2.0.0", "Ok: kept by a 1.0 plugin");
	return SMTPGATE_ACCEPT;
}

static void abi10_reset(void *priv, const struct smtpgate_session *s)
{
	(void)priv;
	host->log(SMTPGATE_LOG_INFO, s, "abi10 hook=on_reset");
}

static void abi10_disconnect(void *priv, const struct smtpgate_session *s)
{
	(void)priv;
	host->log(SMTPGATE_LOG_INFO, s, "abi10 hook=on_disconnect");
}

static enum smtpgate_verdict xold(void *priv, const struct smtpgate_session *s, const char *arg,
				  struct smtpgate_reply *reply)
{
	(void)priv;
	(void)s;
	host->reply(reply, 250, NULL, "old %s", arg ? arg : "-");
	return SMTPGATE_ACCEPT;
}

static const struct smtpgate_command abi10_commands[] = {
	{ "XOLD", xold },
	{ NULL, NULL },
};

static const struct smtpgate_plugin abi10_plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "abi10",
	.version = "1.0-fixture",
	.init = abi10_init,
	.fini = abi10_fini,
	.on_connect = abi10_connect,
	.on_rcpt = abi10_rcpt,
	.on_message = abi10_message,
	.on_reset = abi10_reset,
	.on_disconnect = abi10_disconnect,
	.commands = abi10_commands,
};

/* The descriptor, ending exactly where an inaccessible page begins. */
const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	static struct smtpgate_plugin *placed;
	if (placed)
		return placed;
	long page = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	placed = (struct smtpgate_plugin *)(p + page - sizeof(abi10_plugin));
	memcpy(placed, &abi10_plugin, sizeof(abi10_plugin));
	if (mprotect(p + page, (size_t)page, PROT_NONE) < 0)
		return NULL;
	return placed;
}
