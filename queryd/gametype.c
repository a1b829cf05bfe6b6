/* placeholder */
#include "area.h"

void gametype_routes(queryd *q, http_server *s)
{
    (void)q;
    (void)s;
}
