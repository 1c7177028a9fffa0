/*
 * fuzz_config.c — the configuration loader (src/config/) on arbitrary bytes: YAML parsing, the schema
 * walk, and the address/CIDR parsers. The input is loaded from memory (sk_config_load_buffer), as if it
 * were a file named fuzz.yaml in the current directory, and everything is freed again.
 * Invariants checked: a load either returns a config or fills an error message; a loaded config has no
 * dangling origin, and every parsed CIDR has its host bits cleared.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/config_int.h"

/*
 * libfyaml 0.7.12 (Debian 12) leaks the chunk array it grows while formatting the text of a quoted
 * scalar made of more than eight pieces (escapes, '' pairs, folded lines), e.g. 'a: "\n\n\n\n\n\n\n\n\n"'.
 * The memory is allocated and lost inside the library (fy_token_get_text), never handed to sekisho, so
 * leaks whose allocation stack is in libfyaml are suppressed; every leak of ours still fails.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libfyaml.so\n";
}

static void check_cidr(const struct sk_cidr *c)
{
	unsigned max = c->family == AF_INET ? 32 : 128;
	SK_ASSERT(c->family == AF_INET || c->family == AF_INET6);
	SK_ASSERT(c->prefix <= max);
	for (unsigned bit = c->prefix; bit < max; bit++)
		SK_ASSERT((c->addr[bit / 8] & (0x80u >> (bit % 8))) == 0);
}

static void check_config(const struct sk_config *cfg)
{
	SK_ASSERT(cfg->workers >= 1 && cfg->workers <= 256);
	for (size_t i = 0; i < cfg->n_distributions; i++) {
		const struct sk_distribution *d = &cfg->distributions[i];
		SK_ASSERT(d->aliases.n > 0 && d->n_behaviors > 0);
		for (size_t b = 0; b < d->n_behaviors; b++)
			SK_ASSERT(sk_config_origin(cfg, d->behaviors[b].origin) != NULL);
	}
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct sk_listener *l = &cfg->listeners[i];
		SK_ASSERT(l->mode == SK_MODE_HTTP || (l->origin && sk_config_origin(cfg, l->origin)));
		for (size_t r = 0; r < l->n_acl; r++) {
			check_cidr(&l->acl[r].cidr);
			SK_ASSERT(r == 0 || l->acl[r - 1].rule < l->acl[r].rule);
		}
	}
	for (size_t i = 0; i < cfg->n_origins; i++) {
		const struct sk_origin *o = &cfg->origins[i];
		SK_ASSERT((o->root != NULL) != (o->n_servers > 0));
		SK_ASSERT(o->root || o->host);
	}
	for (size_t i = 0; i < cfg->n_ip_sets; i++)
		for (size_t c = 0; c < cfg->ip_sets[i].cidrs.n; c++)
			check_cidr(&cfg->ip_sets[i].cidrs.items[c]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sk_err err = { 0 };
	sk_cfg_resolve_names = false; /* no input may reach DNS: a mutated address would stall the run */
	struct sk_config *cfg = sk_config_load_buffer("fuzz.yaml", (const char *)data, size, &err);
	if (cfg) {
		check_config(cfg);
		sk_config_free(cfg);
	} else {
		char line[1024];
		SK_ASSERT(err.msg[0] != '\0');
		sk_err_format(&err, line, sizeof(line));
	}

	/* The same bytes as one address and one CIDR. */
	char text[160];
	size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
	memcpy(text, data, n);
	text[n] = '\0';
	struct sk_addr addr;
	if (sk_addr_parse(text, &addr) == 0)
		SK_ASSERT(addr.len > 0 && strcmp(addr.text, text) == 0);
	struct sk_cidr cidr;
	if (sk_cidr_parse(text, &cidr) == 0)
		check_cidr(&cidr);
	return 0;
}
