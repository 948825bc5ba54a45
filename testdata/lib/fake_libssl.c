/*
 * A stand-in for OpenSSL 1.1's libssl, built by the tests as libssl.so.1.1 (soname included) so a
 * fixture module can link against it. It exports one function under the symbol version
 * OPENSSL_1_1_0, as the real library does (see fake_libssl.map).
 */
#include <stdint.h>

int OPENSSL_init_ssl(uint64_t opts, const void *settings) {
    (void)opts;
    (void)settings;
    return 1;
}
