/* The address of the client behind the front door: X-Real-IP, but only from a trusted proxy. */
#ifndef MOHSTATS_CLIENT_IP_H
#define MOHSTATS_CLIENT_IP_H

#include "http_server.h"

/* The peer address, or the X-Real-IP header when the peer is one of TRUSTED_PROXIES (a comma-
 * separated list, default the loopback addresses where nginx runs). A client elsewhere cannot
 * choose its address by sending the header itself. */
const char *client_ip(const http_request *req);

/* What rate limits count an address under: an IPv4 address as it is; an IPv6 address as its /64
 * ("2001:db8:1:2::/64"), since one subscriber or host usually holds a whole /64 and could otherwise take a
 * fresh limit for each of its 2^64 addresses; an IPv4-mapped IPv6 address as its IPv4 address. Anything
 * else is copied as it is. */
#define CLIENT_LIMIT_KEY_LEN 64
void client_limit_key(const char *ip, char out[CLIENT_LIMIT_KEY_LEN]);

#endif
