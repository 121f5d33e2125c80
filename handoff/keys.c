#include "handoff/keys.h"

#include <errno.h>
#include <stdio.h>

#include <openssl/crypto.h>

int ho_pool_key_load(const lb_config_t *cfg, size_t pool, ho_key_t *key, char *err, size_t errlen)
{
	const lb_pool_conf_t *p = &cfg->pools[pool];
	char msg[512];
	int rc;

	if (p->handoff.key_file == NULL) {
		snprintf(err, errlen, "%s:%d: pools[%zu].handoff: no key_file", cfg->path, p->line,
		         pool);
		return -ENOENT;
	}
	rc = ho_key_load(p->handoff.key_file, key, msg, sizeof(msg));
	if (rc < 0)
		snprintf(err, errlen, "%s:%d: pools[%zu].handoff.key_file: %s", cfg->path,
		         p->handoff.key_file_line, pool, msg);
	return rc;
}

int ho_keys_check(const lb_config_t *cfg, char *err, size_t errlen)
{
	ho_key_t key;
	int rc = 0;

	for (size_t i = 0; i < cfg->npools && rc == 0; i++)
		if (cfg->pools[i].handoff.key_file != NULL)
			rc = ho_pool_key_load(cfg, i, &key, err, errlen);
	OPENSSL_cleanse(&key, sizeof(key));
	return rc;
}
