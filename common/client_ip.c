/* Client address resolution behind a trusted reverse proxy. */
#include "client_ip.h"

#include <arpa/inet.h>
#include <stdio.h>
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

void client_limit_key(const char *ip, char out[CLIENT_LIMIT_KEY_LEN])
{
    struct in6_addr a;
    if (!strchr(ip, ':') || inet_pton(AF_INET6, ip, &a) != 1) {
        snprintf(out, CLIENT_LIMIT_KEY_LEN, "%s", ip);
        return;
    }
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a.s6_addr, v4mapped, sizeof v4mapped) == 0) {
        if (!inet_ntop(AF_INET, a.s6_addr + 12, out, CLIENT_LIMIT_KEY_LEN))
            snprintf(out, CLIENT_LIMIT_KEY_LEN, "%s", ip);
        return;
    }
    memset(a.s6_addr + 8, 0, 8);
    char net[INET6_ADDRSTRLEN];
    if (!inet_ntop(AF_INET6, &a, net, sizeof net))
        snprintf(net, sizeof net, "%s", ip);
    snprintf(out, CLIENT_LIMIT_KEY_LEN, "%s/64", net);
}
