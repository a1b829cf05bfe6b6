/* placeholder */
#include "area.h"

void match_routes(queryd *q, http_server *s)
{
    (void)q;
    (void)s;
}
