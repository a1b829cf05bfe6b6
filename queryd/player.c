/* placeholder */
#include "area.h"

void player_routes(queryd *q, http_server *s)
{
    (void)q;
    (void)s;
}
