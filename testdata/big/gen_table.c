/*
 * Writes the data table of the "big" fixture module: SIZE bytes of deterministic, realistically
 * compressible content (deflate shrinks it about 3x, like a typical module binary), so packing
 * benchmarks measure real compression work rather than runs of zeros.
 *
 *   gen_table OUTPUT SIZE_BYTES
 *
 * The content mixes words drawn from a fixed pseudo-random vocabulary with a skewed frequency
 * (text, symbol tables) and runs of random bytes (code, hashes). The generator is a fixed-seed
 * xorshift, so the same SIZE always gives the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 0x9E3779B97F4A7C15ULL;

static uint64_t next_random(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

#define WORDS 1024
#define MAX_WORD 12

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s OUTPUT SIZE_BYTES\n", argv[0]);
        return 2;
    }
    long long size = atoll(argv[2]);
    FILE *out = fopen(argv[1], "wb");
    if (out == NULL || size <= 0) {
        perror(argv[1]);
        return 1;
    }

    static char vocabulary[WORDS][MAX_WORD + 1];
    for (int w = 0; w < WORDS; w++) {
        int len = 3 + (int)(next_random() % (MAX_WORD - 2));
        for (int i = 0; i < len; i++) vocabulary[w][i] = (char)('a' + next_random() % 26);
        vocabulary[w][len] = '\0';
    }

    static unsigned char buffer[1 << 16];
    size_t used = 0;
    long long written = 0;
    while (written < size) {
        uint64_t r = next_random();
        if (r % 64 == 0) {
            /* A short run of incompressible bytes. */
            int run = 8 + (int)((r >> 8) % 24);
            for (int i = 0; i < run && used < sizeof buffer; i++)
                buffer[used++] = (unsigned char)next_random();
        } else {
            /* Skewed choice: the minimum of two draws favours the first words. */
            uint64_t a = (r >> 8) % WORDS, b = (r >> 24) % WORDS;
            const char *word = vocabulary[a < b ? a : b];
            size_t len = strlen(word);
            if (used + len + 1 <= sizeof buffer) {
                memcpy(buffer + used, word, len);
                used += len;
                buffer[used++] = (r >> 40) % 8 == 0 ? '\n' : ' ';
            }
        }
        if (used + MAX_WORD + 64 > sizeof buffer || written + (long long)used >= size) {
            size_t chunk = used;
            if (written + (long long)chunk > size) chunk = (size_t)(size - written);
            if (fwrite(buffer, 1, chunk, out) != chunk) {
                perror(argv[1]);
                return 1;
            }
            written += (long long)chunk;
            used = 0;
        }
    }
    if (fclose(out) != 0) {
        perror(argv[1]);
        return 1;
    }
    return 0;
}
