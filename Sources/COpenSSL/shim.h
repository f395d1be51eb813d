#ifndef EDGE_COPENSSL_SHIM_H
#define EDGE_COPENSSL_SHIM_H
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/err.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

/* Function-like macros do not import into Swift. */
static inline void edge_openssl_free(void *p) { OPENSSL_free(p); }
static inline int edge_bn_num_bytes(const BIGNUM *b) { return BN_num_bytes(b); }

#endif
