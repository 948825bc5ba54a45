/*
 * Fixture module "newredis": refuses to load the way RediSearch 2.10 refuses Redis 7.0, with a
 * log line naming the Redis version it wants (99.1.0, newer than any server).
 */
#include "redismodule.h"

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "newredis", 100, REDISMODULE_APIVER_1) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    RedisModule_Log(ctx, REDISMODULE_LOGLEVEL_WARNING,
                    "newredis: Redis version is too old, please upgrade to redis 99.1.0");
    return REDISMODULE_ERR;
}
