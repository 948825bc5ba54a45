/*
 * Fixture module "big" (version 10000, semantic 1.0.0) carrying a large read-only data table, as
 * modules with embedded models or dictionaries do. The table is produced by gen_table.c and
 * embedded at build time from the file named by BIG_TABLE_PATH (see scripts/gen-big-module.sh).
 *
 *   big.size   readonly fast   no keys   arity 1   size of the table in bytes
 *   big.byte   readonly fast   no keys   arity 2   "big.byte <offset>": one byte of the table
 */
#include <stdlib.h>

#include "redismodule.h"

#ifndef BIG_TABLE_PATH
#error "define BIG_TABLE_PATH as the quoted path of the table file"
#endif

/* The table lives in .rodata like any static const array; .incbin keeps compile time short. */
__asm__(".section .rodata\n"
        ".global big_table\n"
        ".type big_table, @object\n"
        ".balign 64\n"
        "big_table:\n"
        ".incbin " BIG_TABLE_PATH "\n"
        "big_table_end:\n"
        ".global big_table_size\n"
        ".type big_table_size, @object\n"
        ".balign 8\n"
        "big_table_size:\n"
        ".quad big_table_end - big_table\n"
        ".previous\n");

extern const unsigned char big_table[];
extern const unsigned long long big_table_size;

static int size_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    return RedisModule_ReplyWithLongLong(ctx, (long long)big_table_size);
}

static int byte_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argc;
    size_t len = 0;
    long long offset = strtoll(RedisModule_StringPtrLen(argv[1], &len), NULL, 10);
    if (offset < 0 || (unsigned long long)offset >= big_table_size)
        return RedisModule_ReplyWithError(ctx, "ERR offset out of range");
    return RedisModule_ReplyWithLongLong(ctx, big_table[offset]);
}

static int create(RedisModuleCtx *ctx, const char *name, RedisModuleCmdFunc fn, int arity) {
    if (RedisModule_CreateCommand(ctx, name, fn, "readonly fast", 0, 0, 0) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    RedisModuleCommandInfo info = {.version = REDISMODULE_COMMAND_INFO_VERSION, .arity = arity};
    return RedisModule_SetCommandInfo(RedisModule_GetCommand(ctx, name), &info);
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "big", 10000, REDISMODULE_APIVER_1) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    if (create(ctx, "big.size", size_command, 1) || create(ctx, "big.byte", byte_command, 2))
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
