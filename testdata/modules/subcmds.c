/*
 * Fixture module "subcmds", version 20001 (semantic 2.0.1): container commands, subcommands and
 * key specs set through RedisModule_SetCommandInfo.
 *
 *   sub.cfg            container                        arity -2 (Redis's default for containers)
 *   sub.cfg|get        readonly         no keys         arity 3    "sub.cfg get <name>"
 *   sub.cfg|set        admin            no keys         arity 4    "sub.cfg set <name> <value>"
 *   sub.obj            container                        arity -2
 *   sub.obj|put        write deny-oom   keys 2 2 1      arity 4    "sub.obj put <key> <value>"
 *   sub.count          readonly         key spec KEYNUM arity -3   "sub.count <numkeys> <key>..."
 *                      (no legacy key range: Redis marks it movablekeys)
 */
#include <stdlib.h>

#include "redismodule.h"

static int reply_ok(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static int cfg_get(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argc;
    return RedisModule_ReplyWithString(ctx, argv[2]);
}

static int count_keys(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    size_t len = 0;
    const char *text = RedisModule_StringPtrLen(argv[1], &len);
    long numkeys = strtol(text, NULL, 10);
    if (numkeys < 1 || numkeys > argc - 2) return RedisModule_ReplyWithError(ctx, "ERR bad numkeys");
    return RedisModule_ReplyWithLongLong(ctx, numkeys);
}

static RedisModuleCommandKeySpec put_keyspecs[] = {
    {.notes = "the object written",
     .flags = REDISMODULE_CMD_KEY_OW | REDISMODULE_CMD_KEY_UPDATE,
     .begin_search_type = REDISMODULE_KSPEC_BS_INDEX,
     .bs.index.pos = 2,
     .find_keys_type = REDISMODULE_KSPEC_FK_RANGE,
     .fk.range = {0, 1, 0}},
    {0},
};

static RedisModuleCommandKeySpec count_keyspecs[] = {
    {.flags = REDISMODULE_CMD_KEY_RO | REDISMODULE_CMD_KEY_ACCESS,
     .begin_search_type = REDISMODULE_KSPEC_BS_INDEX,
     .bs.index.pos = 1,
     .find_keys_type = REDISMODULE_KSPEC_FK_KEYNUM,
     .fk.keynum = {0, 1, 1}},
    {0},
};

static RedisModuleCommandArg count_args[] = {
    {.name = "numkeys", .type = REDISMODULE_ARG_TYPE_INTEGER, .key_spec_index = -1},
    {.name = "key",
     .type = REDISMODULE_ARG_TYPE_KEY,
     .key_spec_index = 0,
     .flags = REDISMODULE_CMD_ARG_MULTIPLE},
    {0},
};

/* Sets summary, arity and key specs of the command or subcommand called `full_name`. */
static int describe(RedisModuleCtx *ctx, const char *full_name, const char *summary, int arity,
                    RedisModuleCommandKeySpec *key_specs, RedisModuleCommandArg *args) {
    RedisModuleCommand *command = RedisModule_GetCommand(ctx, full_name);
    if (command == NULL) return REDISMODULE_ERR;
    RedisModuleCommandInfo info = {
        .version = REDISMODULE_COMMAND_INFO_VERSION,
        .summary = summary,
        .since = "2.0.0",
        .arity = arity,
        .key_specs = key_specs,
        .args = args,
    };
    return RedisModule_SetCommandInfo(command, &info);
}

/* Creates a container command, one without a handler that only groups subcommands. */
static RedisModuleCommand *container(RedisModuleCtx *ctx, const char *name) {
    if (RedisModule_CreateCommand(ctx, name, NULL, "", 0, 0, 0) != REDISMODULE_OK) return NULL;
    return RedisModule_GetCommand(ctx, name);
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "subcmds", 20001, REDISMODULE_APIVER_1) != REDISMODULE_OK)
        return REDISMODULE_ERR;

    RedisModuleCommand *cfg = container(ctx, "sub.cfg");
    RedisModuleCommand *obj = container(ctx, "sub.obj");
    if (cfg == NULL || obj == NULL) return REDISMODULE_ERR;

    if (RedisModule_CreateSubcommand(cfg, "get", cfg_get, "readonly", 0, 0, 0) ||
        RedisModule_CreateSubcommand(cfg, "set", reply_ok, "admin", 0, 0, 0) ||
        RedisModule_CreateSubcommand(obj, "put", reply_ok, "write deny-oom", 2, 2, 1) ||
        RedisModule_CreateCommand(ctx, "sub.count", count_keys, "readonly", 0, 0, 0))
        return REDISMODULE_ERR;

    if (describe(ctx, "sub.cfg|get", "Reads a setting", 3, NULL, NULL) ||
        describe(ctx, "sub.cfg|set", "Changes a setting", 4, NULL, NULL) ||
        describe(ctx, "sub.obj|put", "Writes an object", 4, put_keyspecs, NULL) ||
        describe(ctx, "sub.count", "Counts the keys given", -3, count_keyspecs, count_args))
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
