/*
 * The pools' handoff keys (config `pools[].handoff.key_file`, docs/config.md "handoff"): loaded
 * with ho_key_load (handoff/record.h) and reported the config's way, "FILE:LINE: key: message".
 * core/ knows no module, so the config only records the path and its line; the director calls
 * ho_keys_check after every load (start, SIGHUP, `s3lb check`) so that a bad key file is refused
 * with the config, and ho_pool_key_load for each pool it hands off to. Blocking file reads: call
 * them where the config is loaded, never on a worker's loop.
 */
#ifndef S3LB_HANDOFF_KEYS_H
#define S3LB_HANDOFF_KEYS_H

#include <stddef.h>

#include "core/config.h"
#include "handoff/record.h"

/* The key of cfg->pools[pool]. -ENOENT when the pool has no key_file, else ho_key_load's
 * result; err gets "FILE:LINE: pools[i].handoff.key_file: ..." on failure. */
__attribute__((warn_unused_result)) int ho_pool_key_load(const lb_config_t *cfg, size_t pool,
                                                         ho_key_t *key, char *err, size_t errlen);

/* Loads (and forgets) the key of every pool that has a key_file: 0, or the first failure with
 * its message. Pools without one need none: the config refuses a handoff route to them. */
__attribute__((warn_unused_result)) int ho_keys_check(const lb_config_t *cfg, char *err,
                                                      size_t errlen);

#endif
