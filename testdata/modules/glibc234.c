/*
 * Fixture module "glibc234" (version 10000, semantic 1.0.0) that calls closefrom, which glibc
 * first shipped in 2.34: the built .so needs GLIBC_2.34, so it loads on rhel9, amzn2023 and
 * ubuntu22.04 but not on rhel8 (glibc 2.28) or ubuntu20.04 (2.31).
 *
 *   glibc234.closefrom   admin   no keys   arity -1 (no SetCommandInfo)
 */
#define _GNU_SOURCE
#include <unistd.h>

#include "redismodule.h"

static int closefrom_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    /* Only with an explicit argument: closing descriptors inside redis-server is destructive. */
    if (argc == 2) closefrom(1 << 20);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "glibc234", 10000, REDISMODULE_APIVER_1) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    return RedisModule_CreateCommand(ctx, "glibc234.closefrom", closefrom_command, "admin", 0, 0, 0);
}
