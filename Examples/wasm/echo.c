/* echo: answers with its whole environment (one NAME=value a line), a line "--", and the request
 * body. Handy to see what a WAGI function gets; the tests use it. */
#include <stdio.h>

extern char **environ;

int main(void) {
    printf("Content-Type: text/plain\n\n");
    for (char **e = environ; *e; e++) printf("%s\n", *e);
    printf("--\n");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) fwrite(buf, 1, n, stdout);
    return 0;
}
