/* A valid shared library that is not a Redis module: it has no RedisModule_OnLoad. */
#include <string.h>

int notmodule_answer(void) { return 42; }

size_t notmodule_length(const char *text) { return strlen(text); }
