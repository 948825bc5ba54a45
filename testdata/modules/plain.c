/*
 * Fixture module "plain", version 10203 (semantic 1.2.3).
 *
 * Commands, as COMMAND INFO reports them on Redis 7.0:
 *   plain.set   write deny-oom   keys 1 1 1   arity 3   (key spec: RW UPDATE)
 *   plain.get   readonly fast    keys 1 1 1   arity 2   (key spec: RO ACCESS)
 *   plain.ping  readonly fast    no keys      arity 1
 *   plain.mget  readonly         keys 1 -1 1  arity -1  (no SetCommandInfo: Redis reports -1)
 */
#include <stdio.h>
#include <strings.h>

#include "redismodule.h"

static int plain_set(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    if (argc != 3) return RedisModule_WrongArity(ctx);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static int plain_get(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 2) return RedisModule_WrongArity(ctx);
    size_t len = 0;
    const char *key = RedisModule_StringPtrLen(argv[1], &len);
    if (len == 0 || strcasecmp(key, "missing") == 0)
        return RedisModule_ReplyWithError(ctx, "ERR no such key in this fixture");
    char reply[128];
    int written = snprintf(reply, sizeof reply, "plain:%.*s", (int)(len > 64 ? 64 : len), key);
    return RedisModule_ReplyWithStringBuffer(ctx, reply, (size_t)written);
}

static int plain_ping(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    if (argc != 1) return RedisModule_WrongArity(ctx);
    return RedisModule_ReplyWithSimpleString(ctx, "PONG");
}

static int plain_mget(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    if (argc < 2) return RedisModule_WrongArity(ctx);
    return RedisModule_ReplyWithLongLong(ctx, argc - 1);
}

static RedisModuleCommandKeySpec set_keys[] = {
    {.flags = REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_UPDATE,
     .begin_search_type = REDISMODULE_KSPEC_BS_INDEX,
     .bs.index.pos = 1,
     .find_keys_type = REDISMODULE_KSPEC_FK_RANGE,
     .fk.range = {0, 1, 0}},
    {0},
};

static RedisModuleCommandArg set_args[] = {
    {.name = "key", .type = REDISMODULE_ARG_TYPE_KEY, .key_spec_index = 0},
    {.name = "value", .type = REDISMODULE_ARG_TYPE_STRING, .key_spec_index = -1},
    {0},
};

static RedisModuleCommandKeySpec get_keys[] = {
    {.flags = REDISMODULE_CMD_KEY_RO | REDISMODULE_CMD_KEY_ACCESS,
     .begin_search_type = REDISMODULE_KSPEC_BS_INDEX,
     .bs.index.pos = 1,
     .find_keys_type = REDISMODULE_KSPEC_FK_RANGE,
     .fk.range = {0, 1, 0}},
    {0},
};

static int create(RedisModuleCtx *ctx, const char *name, RedisModuleCmdFunc fn, const char *flags,
                  int first, int last, int step, const RedisModuleCommandInfo *info) {
    if (RedisModule_CreateCommand(ctx, name, fn, flags, first, last, step) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    if (info == NULL) return REDISMODULE_OK;
    return RedisModule_SetCommandInfo(RedisModule_GetCommand(ctx, name), info);
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "plain", 10203, REDISMODULE_APIVER_1) != REDISMODULE_OK)
        return REDISMODULE_ERR;

    const RedisModuleCommandInfo set_info = {
        .version = REDISMODULE_COMMAND_INFO_VERSION,
        .summary = "Stores a value (a no-op in this fixture)",
        .since = "1.0.0",
        .arity = 3,
        .key_specs = set_keys,
        .args = set_args,
    };
    const RedisModuleCommandInfo get_info = {
        .version = REDISMODULE_COMMAND_INFO_VERSION,
        .summary = "Returns a value derived from the key name",
        .since = "1.0.0",
        .arity = 2,
        .key_specs = get_keys,
    };
    const RedisModuleCommandInfo ping_info = {
        .version = REDISMODULE_COMMAND_INFO_VERSION,
        .summary = "Answers PONG",
        .since = "1.2.0",
        .arity = 1,
    };

    if (create(ctx, "plain.set", plain_set, "write deny-oom", 1, 1, 1, &set_info) ||
        create(ctx, "plain.get", plain_get, "readonly fast", 1, 1, 1, &get_info) ||
        create(ctx, "plain.ping", plain_ping, "readonly fast", 0, 0, 0, &ping_info) ||
        create(ctx, "plain.mget", plain_mget, "readonly", 1, -1, 1, NULL))
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
