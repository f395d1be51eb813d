#include "CEdgeCrypto.h"

#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

/* Builds a public key of type `name` from params; NULL on failure. */
static EVP_PKEY *pkey_from_params(const char *name, OSSL_PARAM *params) {
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

EVP_PKEY *edge_pkey_rsa_public(const unsigned char *n, size_t n_len, const unsigned char *e, size_t e_len) {
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL);
    BIGNUM *bn_e = BN_bin2bn(e, (int)e_len, NULL);
    if (bld != NULL && bn_n != NULL && bn_e != NULL && n_len > 0 && e_len > 0
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1
        && (params = OSSL_PARAM_BLD_to_param(bld)) != NULL) {
        pkey = pkey_from_params("RSA", params);
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    ERR_clear_error();
    return pkey;
}

EVP_PKEY *edge_pkey_ec_public(int bits, const unsigned char *x, size_t x_len, const unsigned char *y, size_t y_len) {
    const char *group = bits == 256 ? "prime256v1" : bits == 384 ? "secp384r1" : NULL;
    size_t size = (size_t)(bits + 7) / 8;
    unsigned char point[1 + 2 * 48];
    if (group == NULL || x_len != size || y_len != size) return NULL;
    point[0] = 0x04; /* uncompressed */
    memcpy(point + 1, x, size);
    memcpy(point + 1 + size, y, size);

    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld != NULL
        && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1
        && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * size) == 1
        && (params = OSSL_PARAM_BLD_to_param(bld)) != NULL) {
        pkey = pkey_from_params("EC", params);
    }
    if (pkey != NULL) {
        /* Reject points off the curve (invalid-curve attacks). */
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (check == NULL || EVP_PKEY_public_check(check) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free(check);
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    ERR_clear_error();
    return pkey;
}

EVP_PKEY *edge_pkey_ed25519_public(const unsigned char *raw, size_t len) {
    if (len != 32) return NULL;
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, len);
    ERR_clear_error();
    return pkey;
}

static const EVP_MD *digest_for(int bits) {
    switch (bits) {
    case 256: return EVP_sha256();
    case 384: return EVP_sha384();
    case 512: return EVP_sha512();
    default: return NULL;
    }
}

/* Raw R||S (each half the length) to a DER ECDSA-Sig-Value; the DER length or -1. */
static int ecdsa_raw_to_der(const unsigned char *raw, size_t raw_len, unsigned char *out, size_t cap) {
    size_t half = raw_len / 2;
    int length = -1;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)half, NULL);
    BIGNUM *s = BN_bin2bn(raw + half, (int)half, NULL);
    if (sig != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = NULL; /* owned by sig now */
        s = NULL;
        if (i2d_ECDSA_SIG(sig, NULL) <= (int)cap) {
            unsigned char *cursor = out;
            length = i2d_ECDSA_SIG(sig, &cursor);
        }
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return length;
}

int edge_jws_verify(EVP_PKEY *key, int kind, int hash_bits,
                    const unsigned char *msg, size_t msg_len, const unsigned char *sig, size_t sig_len) {
    unsigned char der[16 + 2 * 66];
    const EVP_MD *md = kind == EDGE_JWS_EDDSA ? NULL : digest_for(hash_bits);
    if (key == NULL || (kind != EDGE_JWS_EDDSA && md == NULL)) return 0;

    if (kind == EDGE_JWS_ECDSA) {
        /* JWS fixes the length: twice the field size (64 for P-256, 96 for P-384). */
        size_t expected = 2 * (size_t)((EVP_PKEY_get_bits(key) + 7) / 8);
        if (sig_len != expected || expected > 2 * 66) return 0;
        int der_len = ecdsa_raw_to_der(sig, sig_len, der, sizeof der);
        if (der_len <= 0) { ERR_clear_error(); return 0; }
        sig = der;
        sig_len = (size_t)der_len;
    }

    int ok = 0;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx != NULL && EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key) == 1) {
        int configured = 1;
        if (kind == EDGE_JWS_RSA_PSS) {
            configured = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
                && EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1
                && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
        }
        ok = configured && EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len) == 1;
    }
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

int edge_pkey_bits(const EVP_PKEY *key) {
    return key == NULL ? 0 : EVP_PKEY_get_bits(key);
}

void edge_pkey_free(EVP_PKEY *key) { EVP_PKEY_free(key); }
