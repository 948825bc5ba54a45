/*
 * Fixture module "needsssl" (version 10100, semantic 1.1.0) linked against libssl.so.1.1, so its
 * DT_NEEDED lists libssl.so.1.1 and it needs the symbol version OPENSSL_1_1_0. Tests link it
 * against the stand-in library built from testdata/lib/fake_libssl.c.
 *
 *   needsssl.init   readonly   no keys   arity -1 (no SetCommandInfo)
 */
#include <stdlib.h>

#include "redismodule.h"

/* From libssl 1.1: int OPENSSL_init_ssl(uint64_t opts, const void *settings). */
extern int OPENSSL_init_ssl(uint64_t opts, const void *settings);

static int init_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    /* getenv keeps libc in DT_NEEDED, as in any real module. */
    return RedisModule_ReplyWithLongLong(ctx, OPENSSL_init_ssl(0, getenv("SSL_CERT_FILE")));
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "needsssl", 10100, REDISMODULE_APIVER_1) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    return RedisModule_CreateCommand(ctx, "needsssl.init", init_command, "readonly", 0, 0, 0);
}
