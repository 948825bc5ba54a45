/*
 * Fixture module "args" (version 300, semantic 0.3.0) whose name and commands depend on its load
 * arguments, to show that arguments reach the module verbatim, as a list:
 *
 *   NAME <name>      the module registers itself as <name> instead of "args"
 *   PREFIX <prefix>  its commands are <prefix>.echo and <prefix>.loadargs instead of args.*
 *   anything else    kept as is and returned by <prefix>.loadargs
 *
 *   <prefix>.echo      readonly fast   no keys   arity 2    replies with its argument
 *   <prefix>.loadargs  readonly        no keys   arity 1    replies with every load argument
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "redismodule.h"

#define MAX_ARGS 64
#define MAX_TEXT 256

static char load_args[MAX_ARGS][MAX_TEXT];
static int load_arg_count;

static int echo(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argc;
    return RedisModule_ReplyWithString(ctx, argv[1]);
}

static int loadargs(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    RedisModule_ReplyWithArray(ctx, load_arg_count);
    for (int i = 0; i < load_arg_count; i++)
        RedisModule_ReplyWithStringBuffer(ctx, load_args[i], strlen(load_args[i]));
    return REDISMODULE_OK;
}

/* Copies argument `i` into `out` (truncated to fit). */
static void copy_arg(RedisModuleString **argv, int i, char *out) {
    size_t len = 0;
    const char *text = RedisModule_StringPtrLen(argv[i], &len);
    snprintf(out, MAX_TEXT, "%.*s", (int)(len < MAX_TEXT ? len : MAX_TEXT - 1), text);
}

static int create(RedisModuleCtx *ctx, const char *prefix, const char *suffix, RedisModuleCmdFunc fn,
                  const char *flags, int arity) {
    char name[MAX_TEXT + 16];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    if (RedisModule_CreateCommand(ctx, name, fn, flags, 0, 0, 0) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    RedisModuleCommandInfo info = {.version = REDISMODULE_COMMAND_INFO_VERSION, .arity = arity};
    return RedisModule_SetCommandInfo(RedisModule_GetCommand(ctx, name), &info);
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    /* The API must be resolved before argv can be read, so resolve it under a placeholder name
     * first: RedisModule_Init registers the name last, and the final name is set again below. */
    char name[MAX_TEXT] = "args";
    char prefix[MAX_TEXT] = "args";

    /* Resolve the API (StringPtrLen is needed to read argv) without registering a name yet. */
    memcpy(&RedisModule_GetApi, ctx, sizeof RedisModule_GetApi);
    if (RedisModule_GetApi("RedisModule_StringPtrLen", (void *)&RedisModule_StringPtrLen))
        return REDISMODULE_ERR;

    for (int i = 0; i < argc; i++) {
        size_t len = 0;
        const char *word = RedisModule_StringPtrLen(argv[i], &len);
        if (strcasecmp(word, "NAME") == 0 && i + 1 < argc) {
            copy_arg(argv, ++i, name);
        } else if (strcasecmp(word, "PREFIX") == 0 && i + 1 < argc) {
            copy_arg(argv, ++i, prefix);
        } else if (load_arg_count < MAX_ARGS) {
            copy_arg(argv, i, load_args[load_arg_count++]);
        }
    }

    if (RedisModule_Init(ctx, name, 300, REDISMODULE_APIVER_1) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    if (create(ctx, prefix, "echo", echo, "readonly fast", 2) ||
        create(ctx, prefix, "loadargs", loadargs, "readonly", 1))
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
