/*
 * Fixture module "upper", version 10000 (semantic 1.0.0): registers its commands in upper and
 * mixed case, as RediSearch does (FT.SEARCH), so the names must reach module.json unchanged.
 *   HELLO.UPPER   readonly fast   no keys
 *   Hello.Mixed   write           keys 1 1 1
 */
#include "redismodule.h"

static int hello_upper(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    return RedisModule_ReplyWithSimpleString(ctx, "HELLO");
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "upper", 10000, REDISMODULE_APIVER_1) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "HELLO.UPPER", hello_upper, "readonly fast", 0, 0, 0) !=
        REDISMODULE_OK)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "Hello.Mixed", hello_upper, "write", 1, 1, 1) !=
        REDISMODULE_OK)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
