/* placeholder */
#include "area.h"

void map_routes(queryd *q, http_server *s)
{
    (void)q;
    (void)s;
}
