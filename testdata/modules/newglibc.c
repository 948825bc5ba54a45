/*
 * Fixture module "newglibc" (version 10000, semantic 1.0.0) that calls arc4random and
 * arc4random_uniform, which glibc first shipped in 2.36: the built .so needs GLIBC_2.36 and
 * cannot load on rhel8 (glibc 2.28), ubuntu20.04 (2.31) or ubuntu22.04 (2.35).
 *
 *   newglibc.rand   readonly   no keys   arity -1 (no SetCommandInfo)
 */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdlib.h>

#include "redismodule.h"

static int rand_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    long long value = argc > 1 ? (long long)arc4random_uniform(100) : (long long)arc4random();
    return RedisModule_ReplyWithLongLong(ctx, value);
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "newglibc", 10000, REDISMODULE_APIVER_1) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    return RedisModule_CreateCommand(ctx, "newglibc.rand", rand_command, "readonly", 0, 0, 0);
}
