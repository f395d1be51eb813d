#ifndef EDGE_CEDGECRYPTO_H
#define EDGE_CEDGECRYPTO_H
/*
 * Small C helpers for JWT verification on OpenSSL 3 libcrypto.
 *
 * They live in C because OSSL_PARAM / OSSL_PARAM_BLD keep pointers to their key-name strings
 * (a Swift string passed there would dangle) and because ECDSA signature conversion and the
 * EVP_DigestVerify sequence are shortest written against the C API directly.
 * Every function returns NULL / -1 / 0 on failure and clears OpenSSL's error queue.
 */
#include <stddef.h>
#include <openssl/evp.h>

/* Kinds of JWS signature, as edge_jws_verify expects them. */
#define EDGE_JWS_RSA_PKCS1 0  /* RS256/384/512: RSASSA-PKCS1-v1_5 */
#define EDGE_JWS_RSA_PSS 1    /* PS256: RSASSA-PSS, MGF1 with the same hash, salt = hash length */
#define EDGE_JWS_ECDSA 2      /* ES256/384: signature is raw R||S (JWS), converted to DER here */
#define EDGE_JWS_EDDSA 3      /* EdDSA with Ed25519: no pre-hash */

/* An RSA public key from big-endian modulus and exponent bytes (JWK "n", "e"). */
EVP_PKEY *edge_pkey_rsa_public(const unsigned char *n, size_t n_len, const unsigned char *e, size_t e_len);

/* An EC public key on P-256 (bits 256) or P-384 (bits 384) from affine coordinates (JWK "x", "y",
 * each exactly the field size). The point is checked to lie on the curve. */
EVP_PKEY *edge_pkey_ec_public(int bits, const unsigned char *x, size_t x_len, const unsigned char *y, size_t y_len);

/* An Ed25519 public key from its 32 raw bytes (JWK "x"). */
EVP_PKEY *edge_pkey_ed25519_public(const unsigned char *raw, size_t len);

/* Verifies a JWS signature over msg: 1 valid, 0 invalid or error.
 * hash_bits is 256, 384 or 512 (ignored for EDGE_JWS_EDDSA). */
int edge_jws_verify(EVP_PKEY *key, int kind, int hash_bits,
                    const unsigned char *msg, size_t msg_len, const unsigned char *sig, size_t sig_len);

/* The key size in bits (RSA modulus, EC field), 0 on error. */
int edge_pkey_bits(const EVP_PKEY *key);

void edge_pkey_free(EVP_PKEY *key);

#endif
