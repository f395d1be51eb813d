/*
 * edge_run.h — host calls of edge-run for WebAssembly functions (import module "edge_run").
 *
 * ABI version 1. Strings and buffers are (pointer, length) pairs in the guest's memory; nothing
 * needs to be NUL-terminated. Every call returns an int32_t status: EDGE_OK (0) or a negative
 * EDGE_ERR_* code, except edge_fetch (a response handle >= 0) and edge_response_status (the
 * HTTP status). A value that does not fit the buffer you pass answers EDGE_ERR_BUFFER_TOO_SMALL
 * with the needed length in *out_len: call again with a buffer that large.
 *
 * A pointer or length outside your memory traps the function (the request is a 500).
 * See docs/wasm.md of edge-run for the full description.
 */
#ifndef EDGE_RUN_H
#define EDGE_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EDGE_OK 0
#define EDGE_ERR_NOT_FOUND (-1)        /* no such key, header */
#define EDGE_ERR_BUFFER_TOO_SMALL (-2) /* *out_len holds the length needed */
#define EDGE_ERR_DENIED (-3)           /* binding or queue not listed in the function's config */
#define EDGE_ERR_INVALID (-4)          /* bad key, TTL, JSON, URL, content type, delay */
#define EDGE_ERR_TOO_LARGE (-5)        /* value, message or response over its limit */
#define EDGE_ERR_FAILED (-6)           /* storage or upstream failure (logged by the runtime) */
#define EDGE_ERR_LIMIT (-7)            /* too many fetches in one invocation */
#define EDGE_ERR_BAD_HANDLE (-8)       /* not a response handle of this invocation */

#define EDGE_CONTENT_JSON 0
#define EDGE_CONTENT_TEXT 1
#define EDGE_CONTENT_BYTES 2

#define EDGE_LOG_DEBUG 0
#define EDGE_LOG_INFO 1
#define EDGE_LOG_WARN 2
#define EDGE_LOG_ERROR 3

#define EDGE_IMPORT(name) __attribute__((import_module("edge_run"), import_name(name)))

/* KV (the bindings listed in config.kv) */
EDGE_IMPORT("kv_get") int32_t edge_kv_get(const char *binding, size_t binding_len, const char *key, size_t key_len,
                                          void *out, size_t out_cap, uint32_t *out_len);
/* ttl_seconds 0: no expiry; otherwise at least kv.min_ttl_seconds of the manifest */
EDGE_IMPORT("kv_put") int32_t edge_kv_put(const char *binding, size_t binding_len, const char *key, size_t key_len,
                                          const void *value, size_t value_len, int64_t ttl_seconds);
EDGE_IMPORT("kv_delete") int32_t edge_kv_delete(const char *binding, size_t binding_len, const char *key, size_t key_len);
/* Writes the list result as JSON: {"keys":[{"name",...}],"list_complete":bool,"cursor"?}. limit 0: 1000 */
EDGE_IMPORT("kv_list") int32_t edge_kv_list(const char *binding, size_t binding_len, const char *prefix, size_t prefix_len,
                                            const char *cursor, size_t cursor_len, int32_t limit,
                                            void *out, size_t out_cap, uint32_t *out_len);
/* Atomically adds `by` to the decimal integer stored at key (absent: 0); the new value in *out */
EDGE_IMPORT("kv_increment") int32_t edge_kv_increment(const char *binding, size_t binding_len, const char *key,
                                                      size_t key_len, int64_t by, int64_t ttl_seconds, int64_t *out);

/* Queues (the queues listed in config.queues); content_type EDGE_CONTENT_*; delay 0…86400 s */
EDGE_IMPORT("queue_send") int32_t edge_queue_send(const char *queue, size_t queue_len, const void *body, size_t body_len,
                                                  int32_t content_type, int32_t delay_seconds);

/* Outbound HTTP through the runtime's fetch (timeouts, retries, circuit breaker).
 * request_json: {"method":"POST","url":"https://…","headers":{"Name":"value"}}; body raw bytes.
 * Returns a response handle (>= 0) or an EDGE_ERR_* code. */
EDGE_IMPORT("fetch") int32_t edge_fetch(const char *request_json, size_t request_len, const void *body, size_t body_len);
EDGE_IMPORT("response_status") int32_t edge_response_status(int32_t handle);
EDGE_IMPORT("response_header") int32_t edge_response_header(int32_t handle, const char *name, size_t name_len,
                                                             void *out, size_t out_cap, uint32_t *out_len);
EDGE_IMPORT("response_body") int32_t edge_response_body(int32_t handle, void *out, size_t out_cap, uint32_t *out_len);

/* A line in the runtime's log, with the function and request id (messages over 4 KiB are cut) */
EDGE_IMPORT("log") void edge_log(int32_t level, const char *message, size_t message_len);

/* ---- Helpers for NUL-terminated strings ---- */

static inline int32_t edge_kv_put_str(const char *binding, const char *key, const char *value, int64_t ttl_seconds) {
    return edge_kv_put(binding, strlen(binding), key, strlen(key), value, strlen(value), ttl_seconds);
}

static inline int32_t edge_kv_delete_str(const char *binding, const char *key) {
    return edge_kv_delete(binding, strlen(binding), key, strlen(key));
}

static inline int32_t edge_kv_increment_str(const char *binding, const char *key, int64_t by, int64_t *out) {
    return edge_kv_increment(binding, strlen(binding), key, strlen(key), by, 0, out);
}

/* The value of key as a malloc'ed NUL-terminated string (free it), or NULL when absent or on error
 * (*status, when given, says which). */
static inline char *edge_kv_get_str(const char *binding, const char *key, int32_t *status) {
    uint32_t len = 0;
    size_t cap = 256;
    for (;;) {
        char *buf = malloc(cap + 1);
        if (!buf) { if (status) *status = EDGE_ERR_TOO_LARGE; return NULL; }
        int32_t rc = edge_kv_get(binding, strlen(binding), key, strlen(key), buf, cap, &len);
        if (rc == EDGE_OK) { buf[len] = 0; if (status) *status = rc; return buf; }
        free(buf);
        if (rc != EDGE_ERR_BUFFER_TOO_SMALL) { if (status) *status = rc; return NULL; }
        cap = len;
    }
}

static inline int32_t edge_queue_send_json(const char *queue, const char *json) {
    return edge_queue_send(queue, strlen(queue), json, strlen(json), EDGE_CONTENT_JSON, 0);
}

static inline int32_t edge_queue_send_text(const char *queue, const char *text) {
    return edge_queue_send(queue, strlen(queue), text, strlen(text), EDGE_CONTENT_TEXT, 0);
}

/* The body of a fetch response as a malloc'ed NUL-terminated string (free it), or NULL. */
static inline char *edge_response_body_str(int32_t handle) {
    uint32_t len = 0;
    int32_t rc = edge_response_body(handle, NULL, 0, &len);
    if (rc != EDGE_OK && rc != EDGE_ERR_BUFFER_TOO_SMALL) return NULL;
    char *buf = malloc((size_t)len + 1);
    if (!buf) return NULL;
    if (edge_response_body(handle, buf, len, &len) != EDGE_OK) { free(buf); return NULL; }
    buf[len] = 0;
    return buf;
}

static inline void edge_log_str(int32_t level, const char *message) { edge_log(level, message, strlen(message)); }

#endif
