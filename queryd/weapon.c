/* placeholder */
#include "area.h"

void weapon_routes(queryd *q, http_server *s)
{
    (void)q;
    (void)s;
}
