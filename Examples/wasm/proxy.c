/* proxy: POST /proxy forwards the request body to config.env.UPSTREAM with edge_run's fetch and
 * relays the upstream status, its Content-Type and its body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edge_run.h"

static char body[1 << 16];

int main(void) {
    const char *upstream = getenv("UPSTREAM");
    if (!upstream) return 1;
    size_t n = fread(body, 1, sizeof body, stdin);
    char request[1024];
    snprintf(request, sizeof request,
             "{\"method\":\"POST\",\"url\":\"%s\",\"headers\":{\"Content-Type\":\"text/plain\",\"X-From\":\"wasm\"}}", upstream);
    int32_t handle = edge_fetch(request, strlen(request), body, n);
    if (handle < 0) {
        printf("Status: 502\nContent-Type: application/json\n\n{\"error\":\"fetch failed\",\"code\":%d}\n", handle);
        return 0;
    }
    char type[256] = "application/octet-stream";
    uint32_t len = 0;
    if (edge_response_header(handle, "Content-Type", 12, type, sizeof type - 1, &len) == EDGE_OK) type[len] = 0;
    char *text = edge_response_body_str(handle);
    printf("Status: %d\nContent-Type: %s\n\n%s", edge_response_status(handle), type, text ? text : "");
    free(text);
    return 0;
}
