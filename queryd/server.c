/* placeholder */
#include "area.h"

void server_routes(queryd *q, http_server *s)
{
    (void)q;
    (void)s;
}
