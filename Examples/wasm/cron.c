/* cron: a scheduled function. EDGE_EVENT=scheduled, CRON and SCHEDULED_TIME arrive as
 * environment variables; it records the tick in KV and sends {"type":"tick",…} to "jobs". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edge_run.h"

int main(void) {
    const char *event = getenv("EDGE_EVENT");
    const char *cron = getenv("CRON");
    const char *at = getenv("SCHEDULED_TIME");
    if (!event || strcmp(event, "scheduled") != 0 || !cron || !at) return 1;
    if (edge_kv_put_str("KV", "last-tick", at, 0) != EDGE_OK) return 2;
    char message[256];
    snprintf(message, sizeof message, "{\"type\":\"tick\",\"cron\":\"%s\",\"scheduled_time\":\"%s\"}", cron, at);
    if (edge_queue_send_json("jobs", message) != EDGE_OK) return 3;
    edge_log_str(EDGE_LOG_INFO, "tick recorded");
    return 0;
}
