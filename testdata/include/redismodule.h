/*
 * Minimal Redis module API header for the rmpack test fixtures.
 *
 * It declares only what the fixture modules in testdata/modules use, following the documented
 * module ABI of Redis 7.0:
 *
 *   - Redis calls `int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)`.
 *   - The first pointer-sized word of that context is the server's "GetApi" function.  Every other
 *     API function is looked up by its full name ("RedisModule_CreateCommand", ...) through it and
 *     stored in a function pointer of the same name.
 *   - `RedisModule_SetModuleAttribs` then registers the module's name, version and API version.
 *
 * Each fixture is a single translation unit, so the function pointers are file-local (static).
 */
#ifndef RMPACK_FIXTURE_REDISMODULE_H
#define RMPACK_FIXTURE_REDISMODULE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Status codes returned by the API and by RedisModule_OnLoad. */
#define REDISMODULE_OK 0
#define REDISMODULE_ERR 1

/* The only module API version Redis has defined. */
#define REDISMODULE_APIVER_1 1

/* Log levels accepted by RedisModule_Log. */
#define REDISMODULE_LOGLEVEL_DEBUG "debug"
#define REDISMODULE_LOGLEVEL_VERBOSE "verbose"
#define REDISMODULE_LOGLEVEL_NOTICE "notice"
#define REDISMODULE_LOGLEVEL_WARNING "warning"

/* Opaque server objects. */
typedef struct RedisModuleCtx RedisModuleCtx;
typedef struct RedisModuleString RedisModuleString;
typedef struct RedisModuleCommand RedisModuleCommand;

/* A command implementation. */
typedef int (*RedisModuleCmdFunc)(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);

/* ---- Command metadata for RedisModule_SetCommandInfo (structure version 1, Redis 7.0) ---- */

/* Argument types of RedisModuleCommandArg.type. */
typedef enum {
    REDISMODULE_ARG_TYPE_STRING,
    REDISMODULE_ARG_TYPE_INTEGER,
    REDISMODULE_ARG_TYPE_DOUBLE,
    REDISMODULE_ARG_TYPE_KEY,
    REDISMODULE_ARG_TYPE_PATTERN,
    REDISMODULE_ARG_TYPE_UNIX_TIME,
    REDISMODULE_ARG_TYPE_PURE_TOKEN,
    REDISMODULE_ARG_TYPE_ONEOF,
    REDISMODULE_ARG_TYPE_BLOCK
} RedisModuleCommandArgType;

/* RedisModuleCommandArg.flags */
#define REDISMODULE_CMD_ARG_NONE 0
#define REDISMODULE_CMD_ARG_OPTIONAL (1 << 0)
#define REDISMODULE_CMD_ARG_MULTIPLE (1 << 1)
#define REDISMODULE_CMD_ARG_MULTIPLE_TOKEN (1 << 2)

/* How a key spec finds its first key.  Zero means "not set" so that an all-zero entry ends the
 * key-spec array. */
typedef enum {
    REDISMODULE_KSPEC_BS_INVALID = 0,
    REDISMODULE_KSPEC_BS_UNKNOWN,
    REDISMODULE_KSPEC_BS_INDEX,
    REDISMODULE_KSPEC_BS_KEYWORD
} RedisModuleKeySpecBeginSearchType;

/* How a key spec finds the remaining keys once the first is found. */
typedef enum {
    REDISMODULE_KSPEC_FK_OMITTED = 0,
    REDISMODULE_KSPEC_FK_UNKNOWN,
    REDISMODULE_KSPEC_FK_RANGE,
    REDISMODULE_KSPEC_FK_KEYNUM
} RedisModuleKeySpecFindKeysType;

/* RedisModuleCommandKeySpec.flags */
#define REDISMODULE_CMD_KEY_RO (1ULL << 0)
#define REDISMODULE_CMD_KEY_RW (1ULL << 1)
#define REDISMODULE_CMD_KEY_OW (1ULL << 2)
#define REDISMODULE_CMD_KEY_RM (1ULL << 3)
#define REDISMODULE_CMD_KEY_ACCESS (1ULL << 4)
#define REDISMODULE_CMD_KEY_UPDATE (1ULL << 5)
#define REDISMODULE_CMD_KEY_INSERT (1ULL << 6)
#define REDISMODULE_CMD_KEY_DELETE (1ULL << 7)
#define REDISMODULE_CMD_KEY_NOT_KEY (1ULL << 8)
#define REDISMODULE_CMD_KEY_INCOMPLETE (1ULL << 9)
#define REDISMODULE_CMD_KEY_VARIABLE_FLAGS (1ULL << 10)

/* One documented argument of a command; arrays end with an entry whose name is NULL. */
typedef struct RedisModuleCommandArg {
    const char *name;
    RedisModuleCommandArgType type;
    int key_spec_index; /* for REDISMODULE_ARG_TYPE_KEY: index into key_specs, else -1 */
    const char *token;
    const char *summary;
    const char *since;
    int flags; /* REDISMODULE_CMD_ARG_* */
    const char *deprecated_since;
    struct RedisModuleCommandArg *subargs;
} RedisModuleCommandArg;

/* One entry of a command's change history; arrays end with an all-NULL entry. */
typedef struct {
    const char *since;
    const char *changes;
} RedisModuleCommandHistoryEntry;

/* Where a command's keys are; arrays end with an entry whose begin_search_type is INVALID. */
typedef struct {
    const char *notes;
    uint64_t flags; /* REDISMODULE_CMD_KEY_* */
    RedisModuleKeySpecBeginSearchType begin_search_type;
    union {
        struct {
            int pos; /* argv index of the first key */
        } index;
        struct {
            const char *keyword; /* keys start after this token */
            int startfrom;       /* argv index to start looking; negative counts from the end */
        } keyword;
    } bs;
    RedisModuleKeySpecFindKeysType find_keys_type;
    union {
        struct {
            int lastkey; /* relative to the first key; negative counts from the end */
            int keystep;
            int limit;
        } range;
        struct {
            int keynumidx; /* relative index of the argument holding the key count */
            int firstkey;  /* relative index of the first key */
            int keystep;
        } keynum;
    } fk;
} RedisModuleCommandKeySpec;

/* Lets the server check the sizes of the structures above against its own. */
typedef struct {
    int version;
    size_t sizeof_historyentry;
    size_t sizeof_keyspec;
    size_t sizeof_arg;
} RedisModuleCommandInfoVersion;

static const RedisModuleCommandInfoVersion RedisModule_CurrentCommandInfoVersion = {
    1,
    sizeof(RedisModuleCommandHistoryEntry),
    sizeof(RedisModuleCommandKeySpec),
    sizeof(RedisModuleCommandArg),
};

#define REDISMODULE_COMMAND_INFO_VERSION (&RedisModule_CurrentCommandInfoVersion)

/* Everything RedisModule_SetCommandInfo accepts; unset pointers are NULL, unset arity is 0. */
typedef struct {
    const RedisModuleCommandInfoVersion *version; /* always REDISMODULE_COMMAND_INFO_VERSION */
    const char *summary;
    const char *complexity;
    const char *since;
    RedisModuleCommandHistoryEntry *history;
    const char *tips; /* space-separated */
    int arity;        /* N exactly, or -N for "at least N" */
    RedisModuleCommandKeySpec *key_specs;
    RedisModuleCommandArg *args;
} RedisModuleCommandInfo;

/* ---- The API functions the fixtures call: (return type, name without prefix, parameters) ---- */

#define RMFIXTURE_API(X)                                                                           \
    X(void, SetModuleAttribs, (RedisModuleCtx * ctx, const char *name, int ver, int apiver))      \
    X(int, IsModuleNameBusy, (const char *name))                                                  \
    X(int, CreateCommand,                                                                         \
      (RedisModuleCtx * ctx, const char *name, RedisModuleCmdFunc cmdfunc, const char *strflags,  \
       int firstkey, int lastkey, int keystep))                                                   \
    X(RedisModuleCommand *, GetCommand, (RedisModuleCtx * ctx, const char *name))                 \
    X(int, CreateSubcommand,                                                                      \
      (RedisModuleCommand * parent, const char *name, RedisModuleCmdFunc cmdfunc,                 \
       const char *strflags, int firstkey, int lastkey, int keystep))                             \
    X(int, SetCommandInfo, (RedisModuleCommand * command, const RedisModuleCommandInfo *info))    \
    X(int, WrongArity, (RedisModuleCtx * ctx))                                                    \
    X(int, ReplyWithSimpleString, (RedisModuleCtx * ctx, const char *msg))                        \
    X(int, ReplyWithLongLong, (RedisModuleCtx * ctx, long long ll))                               \
    X(int, ReplyWithError, (RedisModuleCtx * ctx, const char *err))                               \
    X(int, ReplyWithArray, (RedisModuleCtx * ctx, long len))                                      \
    X(int, ReplyWithStringBuffer, (RedisModuleCtx * ctx, const char *buf, size_t len))            \
    X(int, ReplyWithString, (RedisModuleCtx * ctx, RedisModuleString * str))                      \
    X(const char *, StringPtrLen, (const RedisModuleString *str, size_t *len))                    \
    X(void, Log, (RedisModuleCtx * ctx, const char *level, const char *fmt, ...))

#define RMFIXTURE_DECLARE_POINTER(ret, name, params) \
    static ret(*RedisModule_##name) params __attribute__((unused));
RMFIXTURE_API(RMFIXTURE_DECLARE_POINTER)
#undef RMFIXTURE_DECLARE_POINTER

/* The server's lookup function: fills *target with the named API function, or fails. */
static int (*RedisModule_GetApi)(const char *name, void *target) __attribute__((unused));

/* Resolves the API above and registers the module.  Call it first thing in RedisModule_OnLoad. */
static int RedisModule_Init(RedisModuleCtx *ctx, const char *name, int ver, int apiver)
    __attribute__((unused));
static int RedisModule_Init(RedisModuleCtx *ctx, const char *name, int ver, int apiver) {
    /* The context starts with the GetApi pointer; copy it out without aliasing games. */
    memcpy(&RedisModule_GetApi, ctx, sizeof RedisModule_GetApi);

#define RMFIXTURE_RESOLVE(ret, fn, params)                                     \
    if (RedisModule_GetApi("RedisModule_" #fn, (void *)&RedisModule_##fn) != \
        REDISMODULE_OK)                                                        \
        return REDISMODULE_ERR;
    RMFIXTURE_API(RMFIXTURE_RESOLVE)
#undef RMFIXTURE_RESOLVE

    /* A second module under a name already loaded would clash with the first. */
    if (RedisModule_IsModuleNameBusy(name)) return REDISMODULE_ERR;
    RedisModule_SetModuleAttribs(ctx, name, ver, apiver);
    return REDISMODULE_OK;
}

#endif /* RMPACK_FIXTURE_REDISMODULE_H */
