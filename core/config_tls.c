/*
 * config_tls.c - the parts of a listener's tls group that the table
 * cannot check alone: verify_client needs ca_file, and tls.sni, a list of
 * groups { name; cert; key; } naming the certificate/key pairs a client
 * asking for that server name gets.
 *
 * Pure checking of the file's text: it never opens a certificate or a
 * key (whether they load and match is the worker's check, tls.c), never
 * logs, and keeps no pointer but into the libconfig object it was given.
 */
#include "config_tls.h"

#include <ctype.h>
#include <string.h>

static int sni_name_ok(const char *name);
static int sni_entry(struct config_loader *ld, const config_setting_t *e, struct tls_config *t,
		     size_t i);

/* A host name, or "*." and one: letters, digits, '-' and '.', no empty
   label; lower case (a client's name is folded before it is looked up). */
static int sni_name_ok(const char *name)
{
	if (strncmp(name, "*.", 2) == 0)
		name += 2;
	size_t len = strlen(name);
	if (len == 0 || len > 253 || name[0] == '.' || name[len - 1] == '.' || strstr(name, ".."))
		return 0;
	for (const char *p = name; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' ||
		      *p == '.' || *p == '_'))
			return 0;
	return 1;
}

/* Entry i of tls.sni: its name (unique), its pairs (as many keys as
   certificates). */
static int sni_entry(struct config_loader *ld, const config_setting_t *e, struct tls_config *t,
		     size_t i)
{
	struct tls_sni_config *sni = &t->sni[i];
	if (config_setting_type(e) != CONFIG_TYPE_GROUP)
		return config_table_fail(ld, e, NULL, "tls.sni: each entry is a group "
					 "{ name = \"...\"; cert = ...; key = ...; }");
	for (int k = 0; k < config_setting_length(e); k++) {
		const char *m = config_setting_name(config_setting_get_elem(e, (unsigned int)k));
		if (strcmp(m, "name") && strcmp(m, "cert") && strcmp(m, "key"))
			return config_table_fail(ld, e, m, "unknown setting in a tls.sni entry "
						 "(known: name, cert, key)");
	}
	if (!config_setting_lookup_string(e, "name", &sni->name) || !sni_name_ok(sni->name))
		return config_table_fail(ld, e, "name", "tls.sni: expected a lower-case host name "
					 "like \"mail.example.org\" or \"*.example.org\"");
	for (size_t k = 0; k < i; k++)
		if (strcmp(t->sni[k].name, sni->name) == 0)
			return config_table_fail(ld, e, "name", "tls.sni: \"%s\" is named twice",
						 sni->name);
	if (config_table_strings(ld, e, "cert", TLS_PAIRS_MAX, &sni->cert) < 0 ||
	    config_table_strings(ld, e, "key", TLS_PAIRS_MAX, &sni->key) < 0)
		return -1;
	if (sni->cert.count == 0 || sni->key.count != sni->cert.count)
		return config_table_fail(ld, e, "key", "tls.sni \"%s\": %zu certificates, %zu keys: "
					 "one key per certificate, in the same order", sni->name,
					 sni->cert.count, sni->key.count);
	return 0;
}

int config_tls_check(struct config_loader *ld, const config_setting_t *g, struct tls_config *t)
{
	if (t->ca_file && !t->ca_file[0])
		t->ca_file = NULL;
	if (t->verify_client != TLS_VERIFY_NONE && !t->ca_file)
		return config_table_fail(ld, g, "verify_client",
					 "client certificates need the CAs they verify against: "
					 "set tls.ca_file");
	t->sni_count = 0;
	const config_setting_t *list = g ? config_setting_get_member(g, "sni") : NULL;
	if (!list)
		return 0;
	int type = config_setting_type(list);
	if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
		return config_table_fail(ld, g, "sni", "expected a list of groups ( { name = ...; "
					 "cert = ...; key = ...; }, ... )");
	int n = config_setting_length(list);
	if (n > TLS_SNI_MAX)
		return config_table_fail(ld, g, "sni", "%d entries: at most %d", n, TLS_SNI_MAX);
	for (int i = 0; i < n; i++)
		if (sni_entry(ld, config_setting_get_elem(list, (unsigned int)i), t, (size_t)i) < 0)
			return -1;
	t->sni_count = (size_t)n;
	return 0;
}
