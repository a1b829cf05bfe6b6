/* placeholder */
#include "area.h"

void global_routes(queryd *q, http_server *s)
{
    (void)q;
    (void)s;
}
