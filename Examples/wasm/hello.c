/* hello: GET /hello/:name answers "<GREETING>, <name>!" (WAGI: the request arrives as
 * environment variables, the response goes to stdout as CGI headers, a blank line, the body). */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    const char *name = getenv("X_PARAM_NAME");     /* the route's :name parameter */
    const char *greeting = getenv("GREETING");     /* from the function's config.env */
    printf("Content-Type: text/plain; charset=utf-8\n\n");
    printf("%s, %s!\n", greeting ? greeting : "hello", name ? name : "world");
    return 0;
}
