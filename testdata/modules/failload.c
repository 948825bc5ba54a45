/*
 * Fixture module "failload": RedisModule_OnLoad logs why at level "warning" and refuses to load,
 * as a module does when, say, its configuration is invalid.
 */
#include "redismodule.h"

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "failload", 100, REDISMODULE_APIVER_1) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    RedisModule_Log(ctx, REDISMODULE_LOGLEVEL_WARNING,
                    "failload: refusing to load: required setting 'license-key' is missing");
    return REDISMODULE_ERR;
}
