/* placeholder */
#include "area.h"

void heatmap_routes(queryd *q, http_server *s)
{
    (void)q;
    (void)s;
}
