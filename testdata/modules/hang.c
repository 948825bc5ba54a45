/*
 * Fixture module "hang": RedisModule_OnLoad never returns. When the environment variable
 * RMPACK_FIXTURE_HANG_MARKER names a file, it is created first, so a test knows the load began.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "redismodule.h"

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "hang", 100, REDISMODULE_APIVER_1) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    const char *marker = getenv("RMPACK_FIXTURE_HANG_MARKER");
    if (marker) {
        FILE *f = fopen(marker, "w");
        if (f) fclose(f);
    }
    for (;;) sleep(1);
}
