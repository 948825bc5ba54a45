/*
 * Fixture module "needsabsent": DT_NEEDED names librmpack_absent.so.1, a stand-in library
 * (lib/absent.c) that exists only at link time, so loading fails with the loader naming it.
 */
#include "redismodule.h"

int rmpack_absent_value(void);

static int value(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    return RedisModule_ReplyWithLongLong(ctx, rmpack_absent_value());
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "needsabsent", 100, REDISMODULE_APIVER_1) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    return RedisModule_CreateCommand(ctx, "needsabsent.value", value, "fast", 0, 0, 0);
}
