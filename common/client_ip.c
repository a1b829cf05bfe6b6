/* Client address resolution behind a trusted reverse proxy. */
#include "client_ip.h"

#include <string.h>

#include "config.h"

/* Whether addr is in the comma-separated list. */
static int in_list(const char *list, const char *addr)
{
    size_t n = strlen(addr);
    while (list && *list) {
        while (*list == ' ' || *list == ',')
            list++;
        size_t len = strcspn(list, ", ");
        if (len == n && strncmp(list, addr, n) == 0)
            return 1;
        list += len;
    }
    return 0;
}

const char *client_ip(const http_request *req)
{
    const char *peer = http_request_peer(req);
    const char *real = http_request_header(req, "X-Real-IP");
    if (real && *real && strlen(real) < 64 && in_list(config_get("TRUSTED_PROXIES"), peer))
        return real;
    return peer;
}
