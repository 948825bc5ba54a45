/*
 * Fixture module "crash": RedisModule_OnLoad dies with SIGSEGV, as a module with a bad pointer
 * would.
 */
#include <signal.h>

#include "redismodule.h"

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "crash", 100, REDISMODULE_APIVER_1) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    /* Default action, not Redis's crash-report handler: the server dies at once. */
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    return REDISMODULE_ERR;
}
