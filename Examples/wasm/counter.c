/* counter: a KV counter.
 *   POST   /counters/:name  adds 1 (atomically) and answers {"name": …, "count": N}
 *   GET    /counters/:name  answers the stored count (404 when there is none)
 *   PUT    /counters/:name  stores the request body as the count
 *   DELETE /counters/:name  removes it
 *   GET    /counters        lists the counters (the KV list result as JSON)
 * The function's config lists the binding: "kv": ["KV"]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edge_run.h"

static const char *KV = "KV";

static int answer(int status, const char *body) {
    printf("Status: %d\nContent-Type: application/json\n\n%s\n", status, body);
    return 0;
}

int main(void) {
    const char *method = getenv("REQUEST_METHOD");
    const char *name = getenv("X_PARAM_NAME");
    char key[600];
    if (!method) return 1;
    if (!name) {
        static char list[65536];
        uint32_t len = 0;
        int32_t rc = edge_kv_list(KV, 2, "count:", 6, "", 0, 100, list, sizeof list - 1, &len);
        if (rc != EDGE_OK) return answer(500, "{\"error\":\"list failed\"}");
        list[len] = 0;
        return answer(200, list);
    }
    snprintf(key, sizeof key, "count:%s", name);
    if (strcmp(method, "POST") == 0) {
        int64_t count = 0;
        if (edge_kv_increment_str(KV, key, 1, &count) != EDGE_OK) return answer(500, "{\"error\":\"increment failed\"}");
        printf("Content-Type: application/json\n\n{\"name\":\"%s\",\"count\":%lld}\n", name, (long long)count);
        return 0;
    }
    if (strcmp(method, "GET") == 0) {
        int32_t status = 0;
        char *value = edge_kv_get_str(KV, key, &status);
        if (!value) return answer(status == EDGE_ERR_NOT_FOUND ? 404 : 500, "{\"error\":\"no such counter\"}");
        printf("Content-Type: application/json\n\n{\"name\":\"%s\",\"count\":%s}\n", name, value);
        free(value);
        return 0;
    }
    if (strcmp(method, "PUT") == 0) {
        char body[32] = {0};
        size_t n = fread(body, 1, sizeof body - 1, stdin);
        body[n] = 0;
        int32_t rc = edge_kv_put(KV, 2, key, strlen(key), body, n, 0);
        return rc == EDGE_OK ? answer(200, "{\"stored\":true}") : answer(400, "{\"error\":\"bad value\"}");
    }
    if (strcmp(method, "DELETE") == 0) {
        edge_kv_delete_str(KV, key);
        return answer(200, "{\"deleted\":true}");
    }
    return answer(405, "{\"error\":\"method not allowed\"}");
}
