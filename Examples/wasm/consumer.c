/* consumer: a queue consumer. The batch arrives as JSON on stdin:
 *   {"queue": "jobs", "messages": [{"attempts", "body", "content_type", "id", "timestamp"}, …]}
 * It counts the messages in KV ("consumed"), keeps the last batch ("last-batch"), asks for a
 * retry of every message whose body mentions "retry-me", and fails the whole batch (exit 1,
 * so every message is retried) when one mentions "fail-batch". Messages it does not name are
 * acked. Its answer on stdout: {"ack": […], "retry": [{"id": …, "delay_seconds": 0}]}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edge_run.h"

#define KV_BINDING "KV"

static char batch[1 << 20];

int main(void) {
    size_t n = fread(batch, 1, sizeof batch - 1, stdin);
    batch[n] = 0;
    if (strstr(batch, "fail-batch")) {
        fprintf(stderr, "failing the batch on purpose\n");
        return 1;
    }
    edge_kv_put(KV_BINDING, 2, "last-batch", 10, batch, n, 0);
    printf("{\"retry\":[");
    int count = 0, retries = 0;
    /* Messages are objects whose keys come in order: attempts, body, content_type, id, timestamp. */
    for (char *m = strstr(batch, "{\"attempts\":"); m; ) {
        char *next = strstr(m + 1, "{\"attempts\":");
        char *id = strstr(m, "\"id\":\"");
        if (!id || (next && id > next)) break;
        id += 6;
        char *end = strchr(id, '"');
        char *retry = strstr(m, "retry-me");
        if (retry && retry < id) {
            printf("%s{\"id\":\"%.*s\",\"delay_seconds\":0}", retries++ ? "," : "", (int)(end - id), id);
        }
        count++;
        m = next;
    }
    printf("]}\n");
    int64_t total = 0;
    edge_kv_increment(KV_BINDING, 2, "consumed", 8, count, 0, &total);
    fprintf(stderr, "consumed %d messages (%lld in all)\n", count, (long long)total);
    return 0;
}
