/* placeholder */
#include "area.h"

void achievement_routes(queryd *q, http_server *s)
{
    (void)q;
    (void)s;
}
