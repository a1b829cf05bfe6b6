/* The address of the client behind the front door: X-Real-IP, but only from a trusted proxy. */
#ifndef MOHSTATS_CLIENT_IP_H
#define MOHSTATS_CLIENT_IP_H

#include "http_server.h"

/* The peer address, or the X-Real-IP header when the peer is one of TRUSTED_PROXIES (a comma-
 * separated list, default the loopback addresses where nginx runs). A client elsewhere cannot
 * choose its address by sending the header itself. */
const char *client_ip(const http_request *req);

#endif
